//! Typed identifiers: a path segment or job payload becomes one of these before use,
//! so an arbitrary string never reaches a query or an object key.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($name:ident) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.as_hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::try_parse(s).map(Self)
            }
        }
    };
}

uuid_id!(VideoId);
uuid_id!(UserId);
uuid_id!(JobId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_uuids_parse() {
        assert!("../../etc/passwd".parse::<VideoId>().is_err());
        assert!("%2e%2e".parse::<VideoId>().is_err());
        let id = VideoId::new();
        assert_eq!(id.to_string().parse::<VideoId>().unwrap(), id);
    }
}
