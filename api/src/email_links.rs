//! The links mailed to account holders: one that verifies the address (sent at
//! registration and on request, working for `STREAMBOX_EMAIL_VERIFICATION_TTL_SECS`)
//! and one that resets the password (on request, working for
//! `STREAMBOX_PASSWORD_RESET_TTL_SECS`). Each carries a fresh random token; only its
//! digest is stored, and it works once.

use chrono::Utc;
use streambox_db::email_links::{self, Purpose};
use streambox_db::users::User;
use streambox_http::{ApiResult, AppState};

use crate::mail::{Letter, Outbox};
use crate::{auth_throttle, random_tokens};

/// Mails `user` a link that verifies their address, unless they were sent as many this
/// hour as they may be (then nothing is sent, and nobody is told: see
/// [`auth_throttle::mail_to`]).
pub async fn send_verification(state: &AppState, outbox: &Outbox, user: &User) -> ApiResult<()> {
    let ttl = state.config.mail.verification_ttl;
    let Some(token) = issue(state, user, Purpose::VerifyEmail, ttl).await? else { return Ok(()) };
    let link = outbox.link("verify", &token);
    let body = format!(
        "Hello {name},\n\n\
         please confirm that {email} is your address by opening this link within {hours} hours:\n\n\
         {link}\n\n\
         The link works once. If you did not create a StreamBox account, ignore this mail: \
         nothing happens without the link.\n",
        name = user.display_name,
        email = user.email,
        hours = ttl.as_secs().div_ceil(3600),
    );
    outbox.send(letter(user, "Confirm your email address", body, link));
    Ok(())
}

/// Mails `user` a link that lets them choose a new password, unless they were sent as
/// many this hour as they may be.
pub async fn send_reset(state: &AppState, outbox: &Outbox, user: &User) -> ApiResult<()> {
    let ttl = state.config.mail.reset_ttl;
    let Some(token) = issue(state, user, Purpose::ResetPassword, ttl).await? else { return Ok(()) };
    let link = outbox.link("reset", &token);
    let body = format!(
        "Hello {name},\n\n\
         someone (we hope you) asked to reset the password of your StreamBox account. \
         To choose a new one, open this link within {minutes} minutes:\n\n\
         {link}\n\n\
         The link works once. Setting a new password signs you out on every device. \
         If you did not ask for this, ignore this mail: your password stays as it is.\n",
        name = user.display_name,
        minutes = ttl.as_secs().div_ceil(60),
    );
    outbox.send(letter(user, "Reset your password", body, link));
    Ok(())
}

/// A new link's token, stored by its digest; `None` when `user` was mailed as many
/// links of this purpose this hour as they may be.
async fn issue(state: &AppState, user: &User, purpose: Purpose, ttl: std::time::Duration) -> ApiResult<Option<String>> {
    if !auth_throttle::mail_to(state, purpose, &user.email).await? {
        tracing::info!(user = %user.id, ?purpose, "mail not sent: as many were sent this hour as may be");
        return Ok(None);
    }
    email_links::forget_old(&state.db, user.id).await?;
    let token = random_tokens::new();
    let expires_at = Utc::now() + ttl;
    email_links::insert(&state.db, &random_tokens::digest(&token), user.id, purpose, &user.email, expires_at).await?;
    Ok(Some(token))
}

fn letter(user: &User, subject: &'static str, body: String, link: String) -> Letter {
    Letter { user: user.id, to: user.email.clone(), name: user.display_name.clone(), subject, body, link }
}
