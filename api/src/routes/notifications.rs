//! The signed-in user's notifications: unread first, then newest; marked read one by
//! one or all at once.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use streambox_base::ids::NotificationId;
use streambox_db::notifications::{self, Notification};
use streambox_http::auth::AuthUser;
use streambox_http::error::{ApiJson, ApiQuery};
use streambox_http::{ApiError, ApiResult, AppState};

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;
/// Ids one request may mark read.
const MAX_IDS: usize = 500;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationQuery {
    /// Only unread ones.
    #[serde(default)]
    unread_only: bool,
    /// How many, 1 to 200 (default 50).
    limit: Option<i64>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct NotificationList {
    /// How many are unread in all.
    unread: i64,
    notifications: Vec<Notification>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkRead {
    /// The notifications to mark read; leave it out to mark every one read.
    ids: Option<Vec<NotificationId>>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct UnreadCount {
    /// How many are still unread.
    unread: i64,
}

pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(query): ApiQuery<NotificationQuery>,
) -> ApiResult<Json<NotificationList>> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            streambox_http::error_codes::INVALID_QUERY,
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let notifications = notifications::list(&state.db, user.id, query.unread_only, limit).await?;
    let unread = notifications::unread_count(&state.db, user.id).await?;
    Ok(Json(NotificationList { unread, notifications }))
}

pub async fn mark_read(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(mark): ApiJson<MarkRead>,
) -> ApiResult<Json<UnreadCount>> {
    if mark.ids.as_ref().is_some_and(|ids| ids.len() > MAX_IDS) {
        return Err(ApiError::invalid_field("ids", &format!("at most {MAX_IDS} at once")));
    }
    notifications::mark_read(&state.db, user.id, mark.ids.as_deref()).await?;
    Ok(Json(UnreadCount { unread: notifications::unread_count(&state.db, user.id).await? }))
}
