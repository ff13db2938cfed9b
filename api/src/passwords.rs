//! Password hashes: argon2id, computed off the async threads, a few at a time: each
//! takes 19 MiB and a core for a moment, so a flood of sign-ins waits its turn (and is
//! told to come back, 503, after [`QUEUE_WAIT`]) instead of exhausting memory.

use std::sync::LazyLock;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use streambox_db::users::{NO_PASSWORD, Password};

/// The longest a hash waits for its turn.
pub const QUEUE_WAIT: Duration = Duration::from_secs(10);

/// Hashes computed at once: two per core.
static TURNS: LazyLock<tokio::sync::Semaphore> = LazyLock::new(|| {
    tokio::sync::Semaphore::new(2 * std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get))
});

/// Every hash waited [`QUEUE_WAIT`] for its turn: the server is busy hashing.
#[derive(Debug, thiserror::Error)]
#[error("password hashing is busy")]
pub struct Busy;

async fn turn() -> anyhow::Result<tokio::sync::SemaphorePermit<'static>> {
    match tokio::time::timeout(QUEUE_WAIT, TURNS.acquire()).await {
        Ok(permit) => Ok(permit?),
        Err(_) => Err(Busy.into()),
    }
}

/// argon2id with the library defaults (19 MiB, 2 passes, 1 lane: OWASP's recommendation).
/// CPU-heavy, so it runs off the async threads.
pub async fn hash(password: Password) -> anyhow::Result<String> {
    let _turn = turn().await?;
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.expose().as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
    })
    .await?
}

/// A hash of a password nobody has: checked against when the email is unknown,
/// so that an unknown email costs as much time as a wrong password.
static DECOY_HASH: LazyLock<String> = LazyLock::new(|| {
    Argon2::default()
        .hash_password(b"decoy password that matches no account")
        .expect("argon2 hashes a constant")
        .to_string()
});

/// Checks `password` against `stored` (or the decoy when there is no account). An
/// account without a password ([`NO_PASSWORD`], made through single sign-on) matches
/// nothing, after the same work as a wrong password.
pub async fn verify(password: String, stored: Option<String>) -> anyhow::Result<bool> {
    let _turn = turn().await?;
    tokio::task::spawn_blocking(move || {
        let usable = stored.filter(|s| s != NO_PASSWORD);
        let has_password = usable.is_some();
        let stored = usable.unwrap_or_else(|| DECOY_HASH.clone());
        let hash = PasswordHash::new(&stored).map_err(|e| anyhow::anyhow!("stored hash unreadable: {e}"))?;
        Ok(Argon2::default().verify_password(password.as_bytes(), &hash).is_ok() && has_password)
    })
    .await?
}

/// 503 when hashing is busy, else an internal error.
pub fn api_error(e: anyhow::Error) -> streambox_http::ApiError {
    if e.is::<Busy>() {
        streambox_http::ApiError::unavailable("signing in")
    } else {
        streambox_http::ApiError::internal(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let hash = hash(Password::parse("correct horse battery".into()).unwrap()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(verify("correct horse battery".into(), Some(hash.clone())).await.unwrap());
        assert!(!verify("wrong horse battery".into(), Some(hash)).await.unwrap());
        assert!(!verify("anything at all".into(), None).await.unwrap());
    }
}
