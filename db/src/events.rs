//! The event log (a transactional outbox): what happened, recorded by triggers in the
//! transaction that made it happen (`migrations/…_events_webhooks_notifications.sql`),
//! so an event exists exactly when its change was committed. This module names the
//! event types, documents each one's `data` as Rust types (the API document's
//! `webhooks` section is generated from them, and a test holds the triggers to them),
//! and prunes old events.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::videos::{VideoStatus, Visibility};
use streambox_base::ids::{EventId, JobId, UserId, VideoId, WebhookId};

/// One kind of event: its name, who may subscribe, and what it means.
#[derive(Debug, Clone, Copy)]
pub struct EventType {
    /// The name deliveries carry in `type` and endpoints subscribe to.
    pub name: &'static str,
    /// Only administrators' endpoints for all users receive it (operator events).
    pub admin_only: bool,
    /// When it happens, for the API document.
    pub description: &'static str,
    /// The schema of its `data`, for the API document.
    pub data: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
}

fn schema<T: schemars::JsonSchema>(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    generator.subschema_for::<T>()
}

/// Every event type, in the order of a video's life.
pub const TYPES: &[EventType] = &[
    EventType {
        name: "video.created",
        admin_only: false,
        description: "An upload became a video, queued for transcoding",
        data: schema::<VideoEventData>,
    },
    EventType {
        name: "video.processing",
        admin_only: false,
        description: "A transcoder started on the video",
        data: schema::<VideoEventData>,
    },
    EventType {
        name: "video.playable",
        admin_only: false,
        description: "The video can be played from its start (still processing, or ready at once)",
        data: schema::<VideoEventData>,
    },
    EventType {
        name: "video.ready",
        admin_only: false,
        description: "Transcoding finished: every rendition, the poster and storyboard are published",
        data: schema::<VideoEventData>,
    },
    EventType {
        name: "video.failed",
        admin_only: false,
        description: "Transcoding gave up; `video.error` says why",
        data: schema::<VideoEventData>,
    },
    EventType {
        name: "video.updated",
        admin_only: false,
        description: "Its title, description or visibility changed; `changes` names which",
        data: schema::<VideoEventData>,
    },
    EventType {
        name: "video.deleted",
        admin_only: false,
        description: "The video was deleted; its files are being removed",
        data: schema::<VideoEventData>,
    },
    EventType {
        name: "upload.expired",
        admin_only: false,
        description: "A resumable or direct upload was not finished in time and was discarded",
        data: schema::<UploadEventData>,
    },
    EventType {
        name: "comment.created",
        admin_only: false,
        description: "Someone commented on (or replied under) one of the owner's videos",
        data: schema::<CommentEventData>,
    },
    EventType {
        name: "follow.created",
        admin_only: false,
        description: "Someone followed the owner",
        data: schema::<FollowEventData>,
    },
    EventType {
        name: "job.dead",
        admin_only: true,
        description: "A transcode job gave up for good (the dead-letter queue); administrators only",
        data: schema::<JobEventData>,
    },
    EventType {
        name: "webhook.failing",
        admin_only: true,
        description: "A webhook endpoint's delivery failed for its whole retry window; administrators only",
        data: schema::<EndpointEventData>,
    },
];

/// The event type of this name, if there is one.
pub fn event_type(name: &str) -> Option<&'static EventType> {
    TYPES.iter().find(|t| t.name == name)
}

/// What a webhook delivery's body is: one event.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Envelope {
    /// The event's id: the same in every retry and redelivery, so a receiver can
    /// drop duplicates (also sent as the `StreamBox-Event-Id` header).
    pub id: EventId,
    /// What happened: one of the event types.
    #[serde(rename = "type")]
    pub kind: String,
    /// When the change was committed.
    pub created_at: DateTime<Utc>,
    /// The record it is about: a video, comment, upload, job, the followed creator or a webhook endpoint.
    pub resource_id: Uuid,
    /// The event type's payload.
    pub data: serde_json::Value,
}

/// A video as an event shows it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VideoSnapshot {
    /// The video.
    pub id: VideoId,
    /// Its creator.
    pub owner_id: UserId,
    /// Its title.
    pub title: String,
    /// Its description.
    pub description: String,
    /// Who may watch it.
    pub visibility: Visibility,
    /// Where it stands in its lifecycle.
    pub status: VideoStatus,
    /// Whether it can be played now.
    pub playable: bool,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// Its length in seconds, once ready.
    pub duration_s: Option<f64>,
    /// Its display width, once ready.
    pub width: Option<i32>,
    /// Its display height, once ready.
    pub height: Option<i32>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// `data` of the `video.*` events.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VideoEventData {
    /// The video as the change left it.
    pub video: VideoSnapshot,
    /// `video.updated` only: which of `title`, `description`, `visibility` changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<Vec<String>>,
}

/// A comment as an event shows it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentSnapshot {
    /// The comment.
    pub id: Uuid,
    /// The video it is on.
    pub video_id: VideoId,
    /// Who wrote it.
    pub author_id: UserId,
    /// The comment it replies to, if it is a reply.
    pub parent_id: Option<Uuid>,
    /// Its text.
    pub body: String,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

/// `data` of `comment.created`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentEventData {
    /// The new comment.
    pub comment: CommentSnapshot,
}

/// A follow as an event shows it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowSnapshot {
    /// Who follows.
    pub follower_id: UserId,
    /// Whom they follow (the endpoint's owner).
    pub creator_id: UserId,
    /// Since when.
    pub created_at: DateTime<Utc>,
}

/// `data` of `follow.created`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowEventData {
    /// The new follow.
    pub follow: FollowSnapshot,
}

/// An unfinished upload as an event shows it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadSnapshot {
    /// The upload (the id its video would have had).
    pub id: Uuid,
    /// Who started it.
    pub owner_id: UserId,
    /// `tus` or `presigned`.
    pub kind: String,
    /// The title it was given.
    pub title: String,
    /// The size declared for it, in bytes.
    pub length: i64,
    /// How many bytes had arrived.
    pub stored: i64,
    /// When it was started.
    pub created_at: DateTime<Utc>,
    /// When it expired.
    pub expires_at: DateTime<Utc>,
}

/// `data` of `upload.expired`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadEventData {
    /// The discarded upload.
    pub upload: UploadSnapshot,
}

/// A dead transcode job as an event shows it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobSnapshot {
    /// The job (`/api/v1/admin/jobs/{id}`).
    pub id: JobId,
    /// Its video.
    pub video_id: VideoId,
    /// Attempts made.
    pub attempts: i32,
    /// The last attempt's error.
    pub error: Option<String>,
}

/// `data` of `job.dead`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobEventData {
    /// The job that gave up.
    pub job: JobSnapshot,
}

/// A webhook endpoint as an operator event shows it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointSnapshot {
    /// The endpoint.
    pub id: WebhookId,
    /// Whose it is.
    pub owner_id: UserId,
    /// Where it receives deliveries.
    pub url: String,
    /// Since when its deliveries fail.
    pub failing_since: DateTime<Utc>,
    /// The last failure's error or HTTP status.
    pub last_error: String,
}

/// `data` of `webhook.failing`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointEventData {
    /// The endpoint now marked failing.
    pub endpoint: EndpointSnapshot,
}

/// Records an event in the caller's transaction, with its deliveries, as the triggers do.
pub async fn record<'e>(
    db: impl PgExecutor<'e>,
    kind: &EventType,
    resource: Uuid,
    owner: UserId,
    data: &impl Serialize,
) -> sqlx::Result<()> {
    sqlx::query("SELECT record_event($1, $2, NULL, $3, $4, $5)")
        .bind(kind.name)
        .bind(resource)
        .bind(owner)
        .bind(kind.admin_only)
        .bind(sqlx::types::Json(data))
        .execute(db)
        .await?;
    Ok(())
}

/// Events older than `age` whose deliveries are all finished, with those deliveries,
/// and notifications older than `age`. Returns how many events went.
pub async fn prune(db: &PgPool, age: std::time::Duration) -> sqlx::Result<u64> {
    let events = sqlx::query(
        "DELETE FROM events e WHERE e.created_at < now() - $1
           AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.state = 'pending')",
    )
    .bind(age)
    .execute(db)
    .await?;
    sqlx::query("DELETE FROM notifications WHERE created_at < now() - $1").bind(age).execute(db).await?;
    Ok(events.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_is_named_once_and_found_by_name() {
        let mut seen = std::collections::HashSet::new();
        for t in TYPES {
            assert!(seen.insert(t.name), "{} twice", t.name);
            assert_eq!(event_type(t.name).unwrap().name, t.name);
        }
        assert!(event_type("video.exploded").is_none());
        assert!(event_type("job.dead").unwrap().admin_only);
        assert!(!event_type("video.ready").unwrap().admin_only);
    }
}
