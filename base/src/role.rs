//! What an account may do: watch, upload, or run the platform.

use serde::{Deserialize, Serialize};

/// An account's role, stored as the Postgres `user_role` enum and spelled in lower case
/// everywhere (`viewer`, `creator`, `admin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, schemars::JsonSchema)]
#[sqlx(type_name = "user_role", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Watches and takes part as any signed-in account does; may not upload, and is
    /// not listed as a creator.
    Viewer,
    /// May also upload videos and manage their own.
    Creator,
    /// May manage every account's resources and reach the operator endpoints; never the
    /// role a registration gets.
    Admin,
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "creator" => Ok(Role::Creator),
            "admin" => Ok(Role::Admin),
            other => Err(format!("unknown role {other:?} (viewer, creator, admin)")),
        }
    }
}

impl Role {
    /// Whether the account may upload videos: creators and admins.
    pub fn can_upload(self) -> bool {
        matches!(self, Role::Creator | Role::Admin)
    }
}
