//! The OpenID provider of single sign-on, as this server talks to it: discovery (the
//! document must name exactly the configured issuer), the authorization URL (code flow,
//! PKCE S256, a nonce), and the code exchange whose ID token is verified (signature,
//! issuer, audience, expiry, nonce) before anyone is believed; the email comes from the
//! ID token or, when it has none, from the userinfo endpoint about the same subject. Every request to the
//! provider has a timeout, follows no redirect and reads at most [`MAX_BODY`] bytes.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use axum::http;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{
    AsyncHttpClient, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, DiscoveryError,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpRequest, HttpResponse, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, SignatureVerificationError,
    TokenResponse, UserInfoError,
};
use streambox_base::config::OidcConfig;

/// The longest one request to the provider may take, connecting included.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The most bytes read of one answer: discovery documents and key sets are a few KiB.
const MAX_BODY: usize = 1024 * 1024;
/// How long a discovered document (and its signing keys) is used before it is fetched again.
const DISCOVERY_TTL: Duration = Duration::from_secs(600);

type Client =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// The configured provider, its discovery document fetched when first needed and
/// kept for [`DISCOVERY_TTL`].
pub struct Provider {
    config: OidcConfig,
    http: BoundedHttp,
    discovered: tokio::sync::Mutex<Option<(Instant, CoreProviderMetadata)>>,
}

/// Where to send the browser, and what to remember until it comes back.
pub struct Authorization {
    /// The provider's authorization endpoint with every parameter.
    pub url: String,
    /// The `state` parameter: names the pending sign-in.
    pub state: String,
    /// The `nonce` the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier the code is exchanged with.
    pub pkce_verifier: String,
}

/// Who the provider says signed in, from a verified ID token.
pub struct Person {
    /// The provider's stable identifier of the person.
    pub subject: String,
    /// Their email address, if the provider shared it.
    pub email: Option<String>,
    /// Whether the provider has verified that the email is theirs.
    pub email_verified: bool,
    /// Their name, if the provider shared it.
    pub name: Option<String>,
}

/// Why a sign-in through the provider failed.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider could not be reached, answered too slowly or too much, or its
    /// documents are unusable (a discovery document naming another issuer, say).
    #[error("the OpenID provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the code exchange (a used or expired code, a wrong PKCE verifier).
    #[error("the OpenID provider refused the code: {0}")]
    Refused(String),
    /// The ID token carries another nonce than this sign-in's.
    #[error("the ID token's nonce is not this sign-in's: {0}")]
    Nonce(String),
    /// No ID token, or one that fails verification (signature, issuer, audience, expiry).
    #[error("the ID token is invalid: {0}")]
    Token(String),
}

impl Provider {
    /// The provider of `config`; nothing is fetched until a sign-in needs it.
    pub fn new(config: OidcConfig) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .build()
            .expect("an HTTP client with rustls and no proxy settings builds");
        Self { config, http: BoundedHttp(http), discovered: tokio::sync::Mutex::new(None) }
    }

    /// The configured issuer, as accounts' identities record it.
    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    /// The provider's name for the sign-in button.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// A fresh authorization request: new `state`, `nonce` and PKCE S256 challenge.
    pub async fn authorize(&self) -> Result<Authorization, OidcError> {
        let client = self.client().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        Ok(Authorization {
            url: url.into(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges `code` with the verifier of its sign-in and verifies the ID token
    /// against the sign-in's `nonce`.
    pub async fn exchange(&self, code: String, pkce_verifier: String, nonce: String) -> Result<Person, OidcError> {
        let mut client = self.client().await?;
        let answer = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| OidcError::Unavailable(format!("no token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(refusal) => OidcError::Refused(refusal.to_string()),
                other => OidcError::Unavailable(format!("token endpoint: {}", chain(&other))),
            })?;
        let id_token = answer.id_token().ok_or_else(|| OidcError::Token("the provider sent no ID token".into()))?;
        let nonce = Nonce::new(nonce);
        let mut verified = id_token.claims(&client.id_token_verifier(), &nonce);
        if let Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)) = verified
        {
            // The provider may have rotated its keys since they were fetched: fetch once more.
            *self.discovered.lock().await = None;
            client = self.client().await?;
            verified = id_token.claims(&client.id_token_verifier(), &nonce);
        }
        let claims = verified.map_err(|e| match e {
            ClaimsVerificationError::InvalidNonce(why) => OidcError::Nonce(why),
            other => OidcError::Token(other.to_string()),
        })?;
        let mut person = Person {
            subject: claims.subject().to_string(),
            email: claims.email().map(|e| e.to_string()),
            email_verified: claims.email_verified() == Some(true),
            name: claims.name().and_then(|n| n.get(None)).map(|n| n.to_string()),
        };
        // Many providers put the profile only behind the userinfo endpoint; what it
        // answers must be about the same subject.
        if person.email.is_none()
            && let Ok(request) = client.user_info(answer.access_token().clone(), Some(claims.subject().clone()))
        {
            let info: CoreUserInfoClaims = request.request_async(&self.http).await.map_err(|e| match e {
                UserInfoError::ClaimsVerification(why) => OidcError::Token(format!("userinfo: {why}")),
                other => OidcError::Unavailable(format!("userinfo endpoint: {}", chain(&other))),
            })?;
            person.email = info.email().map(|e| e.to_string());
            person.email_verified = info.email_verified() == Some(true);
            person.name = person.name.or_else(|| info.name().and_then(|n| n.get(None)).map(|n| n.to_string()));
        }
        Ok(person)
    }

    async fn client(&self) -> Result<Client, OidcError> {
        let metadata = self.metadata().await?;
        let redirect = RedirectUrl::new(self.config.redirect_url.clone())
            .map_err(|e| OidcError::Unavailable(format!("redirect URL: {e}")))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.expose().to_owned())),
        )
        .set_redirect_uri(redirect))
    }

    /// The discovery document with its key set, fetched again once [`DISCOVERY_TTL`] old.
    /// The crate refuses a document whose `issuer` is not exactly the configured one.
    async fn metadata(&self) -> Result<CoreProviderMetadata, OidcError> {
        let mut discovered = self.discovered.lock().await;
        if let Some((at, metadata)) = discovered.as_ref()
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(metadata.clone());
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|e| OidcError::Unavailable(format!("issuer URL: {e}")))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http).await.map_err(|e| match e {
            DiscoveryError::Validation(why) => OidcError::Unavailable(format!(
                "the discovery document of {} does not describe that issuer: {why}",
                self.config.issuer
            )),
            other => OidcError::Unavailable(format!("discovery of {}: {}", self.config.issuer, chain(&other))),
        })?;
        *discovered = Some((Instant::now(), metadata.clone()));
        Ok(metadata)
    }
}

/// `e` with its causes: the crate's errors say little more than "request failed".
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(next) = cause {
        text = format!("{text}: {next}");
        cause = next.source();
    }
    text
}

/// A request to the provider failed, or its answer was too large.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Connecting, sending or reading failed, or took longer than [`TIMEOUT`].
    #[error(transparent)]
    Request(#[from] reqwest::Error),
    /// The request could not be built (the crate gave a malformed one).
    #[error(transparent)]
    Build(#[from] http::Error),
    /// The answer was larger than [`MAX_BODY`].
    #[error("the answer is larger than {MAX_BODY} bytes")]
    TooLarge,
}

/// The HTTP client the crate calls the provider with: no redirects, a timeout, bounded answers.
struct BoundedHttp(reqwest::Client);

impl<'c> AsyncHttpClient<'c> for BoundedHttp {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + Sync + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let mut response = self.0.execute(request.try_into()?).await?;
            let mut answer = http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                answer = answer.header(name, value);
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await? {
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(HttpError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(answer.body(body)?)
        })
    }
}
