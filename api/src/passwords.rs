//! Password hashes: argon2id, computed off the async threads.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use streambox_db::users::Password;

/// argon2id with the library defaults (19 MiB, 2 passes, 1 lane: OWASP's recommendation).
/// CPU-heavy, so it runs off the async threads.
pub async fn hash(password: Password) -> anyhow::Result<String> {
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

/// Checks `password` against `stored` (or the decoy when there is no account).
pub async fn verify(password: String, stored: Option<String>) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let stored = stored.unwrap_or_else(|| DECOY_HASH.clone());
        let hash = PasswordHash::new(&stored).map_err(|e| anyhow::anyhow!("stored hash unreadable: {e}"))?;
        Ok(Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
    })
    .await?
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
