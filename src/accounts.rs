//! `streambox user create`: accounts made from the command line, notably the first admin.
//! The operator vouches for the address, so it counts as verified.

use anyhow::Context;
use streambox_base::Config;
use streambox_base::ids::UserId;
use streambox_base::role::Role;
use streambox_db::users::{self, DisplayName, Email, NewUser, Password};

/// Creates an account; the password comes from the caller (read from stdin by the CLI,
/// so it never appears in a process list or shell history).
pub async fn create_user(
    config: &Config,
    email: &str,
    display_name: &str,
    role: Role,
    password: String,
) -> anyhow::Result<UserId> {
    let email = Email::parse(email)?;
    let display_name = DisplayName::parse(display_name)?;
    let password_hash = streambox_api::passwords::hash(Password::parse(password)?).await?;
    let pool = streambox_db::connect(&config.database_url).await?;
    if config.migrate_on_start {
        streambox_db::migrate(&pool).await?;
    }
    let user = users::insert(
        &pool,
        NewUser {
            email: &email,
            password_hash: &password_hash,
            display_name: &display_name,
            role,
            email_verified: true,
        },
    )
    .await
    .context("creating the account")?
    .with_context(|| format!("an account with email {} already exists", email.as_str()))?;
    Ok(user.id)
}
