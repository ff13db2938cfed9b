//! Mail to account holders, sent through SMTP (`STREAMBOX_SMTP_URL`) in the background:
//! the request that asks for a mail never waits for the mail server, and a server that
//! is down or slow never fails or slows it (each mail is given up after
//! [`SEND_TIMEOUT`], the failure logged). Nothing here logs a link or its token, except
//! in `all` mode without SMTP, where the link is logged so a local user can follow it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use streambox_base::config::MailConfig;
use streambox_base::ids::UserId;
use tokio::sync::Semaphore;

/// The longest one mail may take, its turn to send included; then it is given up.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest the SMTP client waits on one answer of the server.
const SMTP_COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// Mails sent at once; the rest wait their turn (within [`SEND_TIMEOUT`]).
const SENDING_AT_ONCE: usize = 8;

/// Where mail goes, cheap to clone: every handler that mails shares one.
#[derive(Clone)]
pub struct Outbox(Arc<Inner>);

struct Inner {
    delivery: Delivery,
    from: Mailbox,
    public_url: String,
    turns: Semaphore,
}

enum Delivery {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// `all` mode without SMTP: the link is logged, for local use.
    LogLinks,
    /// Split mode without SMTP: nothing can be sent; each mail is logged as dropped.
    Nowhere,
}

/// One mail to one account holder, with the link it carries.
pub struct Letter {
    /// Whom it is for, for the logs (never the address or the link).
    pub user: UserId,
    /// The recipient's address.
    pub to: String,
    /// The recipient's display name, for the `To` header.
    pub name: String,
    /// The subject line.
    pub subject: &'static str,
    /// The plain-text body, link included.
    pub body: String,
    /// The link the body carries.
    pub link: String,
}

impl Outbox {
    /// The outbox `config` describes; links start with `public_url` (the web app).
    /// Without SMTP, `log_links` (`all` mode) logs each link instead of mailing it.
    pub fn new(config: &MailConfig, public_url: String, log_links: bool) -> anyhow::Result<Self> {
        let delivery = match &config.smtp_url {
            Some(url) => Delivery::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .context("configuration: STREAMBOX_SMTP_URL: not a usable SMTP URL")?
                    .timeout(Some(SMTP_COMMAND_TIMEOUT))
                    .build(),
            ),
            None if log_links => Delivery::LogLinks,
            None => Delivery::Nowhere,
        };
        let from =
            config.from.parse().with_context(|| format!("configuration: STREAMBOX_MAIL_FROM: {:?}", config.from))?;
        Ok(Self(Arc::new(Inner { delivery, from, public_url, turns: Semaphore::new(SENDING_AT_ONCE) })))
    }

    /// The web app's address of `page` with `token`: `{public}/#/{page}?token=…`.
    pub fn link(&self, page: &str, token: &str) -> String {
        format!("{}/#/{page}?token={token}", self.0.public_url)
    }

    /// Sends `letter` in the background and returns at once.
    pub fn send(&self, letter: Letter) {
        let outbox = self.clone();
        tokio::spawn(async move {
            let user = letter.user;
            match tokio::time::timeout(SEND_TIMEOUT, outbox.deliver(letter)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(%user, error = %format!("{e:#}"), "mail not sent"),
                Err(_) => tracing::warn!(%user, "mail not sent: the mail server did not answer in time"),
            }
        });
    }

    async fn deliver(&self, letter: Letter) -> anyhow::Result<()> {
        match &self.0.delivery {
            Delivery::Smtp(transport) => {
                let message = self.message(&letter)?;
                let _turn = self.0.turns.acquire().await?;
                transport.send(message).await.context("sending through STREAMBOX_SMTP_URL")?;
                tracing::info!(user = %letter.user, subject = letter.subject, "mail sent");
            }
            Delivery::LogLinks => tracing::info!(
                user = %letter.user,
                subject = letter.subject,
                link = %letter.link,
                "no mail server is configured (STREAMBOX_SMTP_URL); for local use, the mail's link"
            ),
            Delivery::Nowhere => {
                tracing::warn!(user = %letter.user, subject = letter.subject, "mail not sent: STREAMBOX_SMTP_URL is not set")
            }
        }
        Ok(())
    }

    fn message(&self, letter: &Letter) -> anyhow::Result<Message> {
        let to = Mailbox::new(Some(letter.name.clone()), letter.to.parse().context("the account's address")?);
        Message::builder()
            .from(self.0.from.clone())
            .to(to)
            .subject(letter.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(letter.body.clone())
            .context("building the mail")
    }
}
