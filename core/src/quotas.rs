//! Which quotas apply to a user, and admitting an upload against them
//! (`streambox_db::quotas` keeps the usage and the charges).

use streambox_base::config::Quotas;
use streambox_base::ids::{UserId, VideoId};
use streambox_base::role::Role;
use streambox_db::quotas::{self, Grant, Refusal, Wanted};

use crate::App;

/// Admins upload without limits unless an admin set some for them.
const UNLIMITED: Quotas = Quotas { upload_bytes_per_day: None, stored_bytes: None, queued_videos: None };

/// The limits that apply to `user`: their overrides over the defaults for `role`.
pub async fn limits(state: &App, user: UserId, role: Role) -> sqlx::Result<Quotas> {
    Ok(quotas::overrides(&state.db, user).await?.apply(defaults(state, role)))
}

/// The limits of a user with `role` and no overrides: the configured ones, or none for an admin.
pub fn defaults(state: &App, role: Role) -> Quotas {
    if role == Role::Admin { UNLIMITED } else { state.config.quotas }
}

/// Charges upload `upload` to `user` and answers what it may store, or why it may
/// not start. Its charge stays pending until it becomes a video or is given up.
pub async fn admit(
    state: &App,
    user: UserId,
    role: Role,
    upload: VideoId,
    wanted: Wanted,
) -> sqlx::Result<Result<Grant, Refusal>> {
    let limits = limits(state, user, role).await?;
    quotas::charge(&state.db, user, limits, upload, wanted).await
}
