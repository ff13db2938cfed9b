//! Typed identifiers: a path segment or job payload becomes one of these before use,
//! so an arbitrary string never reaches a query or an object key. Each id has exactly
//! one spelling — the lowercase hyphenated UUID — so `{…}`, `urn:uuid:…`, upper case
//! and unhyphenated forms never name the same thing twice.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($name:ident) => {
        /// An id of one kind of record, so one kind can never be passed where another is
        /// meant. It parses, deserializes and prints only in the one spelling, and is
        /// stored as a Postgres `uuid`. The inner UUID is public for the few places that
        /// need a plain one (pagination cursors).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, sqlx::Type)]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh random (v4) id, for a record being created.
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
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                canonical(s).map(Self)
            }
        }

        impl schemars::JsonSchema for $name {
            fn inline_schema() -> bool {
                true
            }

            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "type": "string", "format": "uuid", "pattern": CANONICAL_PATTERN })
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// The one spelling of an id, as a JSON Schema pattern.
pub const CANONICAL_PATTERN: &str = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";

/// The text is not an id in its one spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidId;

impl fmt::Display for InvalidId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an id is a lowercase hyphenated UUID (8-4-4-4-12 hex digits)")
    }
}

impl std::error::Error for InvalidId {}

fn canonical(s: &str) -> Result<Uuid, InvalidId> {
    let id = Uuid::try_parse(s).map_err(|_| InvalidId)?;
    if s.len() != 36 || s.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(InvalidId);
    }
    Ok(id)
}

uuid_id!(VideoId);
uuid_id!(UserId);
uuid_id!(JobId);
uuid_id!(EventId);
uuid_id!(WebhookId);
uuid_id!(DeliveryId);
uuid_id!(NotificationId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_uuids_parse() {
        assert!("../../etc/passwd".parse::<VideoId>().is_err());
        assert!("%2e%2e".parse::<VideoId>().is_err());
        let id = VideoId::new();
        assert_eq!(id.to_string().parse::<VideoId>().unwrap(), id);
        assert_eq!(serde_json::from_value::<VideoId>(serde_json::json!(id.to_string())).unwrap(), id);
    }

    #[test]
    fn an_id_has_one_spelling() {
        let id = VideoId::new();
        let (hyphenated, simple) = (id.0.hyphenated().to_string(), id.0.simple().to_string());
        for other in [
            format!("{{{hyphenated}}}"),
            format!("urn:uuid:{hyphenated}"),
            simple,
            hyphenated.to_uppercase(),
            format!(" {hyphenated}"),
        ] {
            assert!(other.parse::<VideoId>().is_err(), "{other}");
            assert!(serde_json::from_value::<VideoId>(serde_json::json!(other)).is_err(), "{other}");
        }
    }
}
