//! Comments with one level of replies. Authors edit and delete their own; the video's
//! owner and admins may delete any on it. Only those who can see the video see them.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use streambox_common::auth::AuthUser;
use streambox_common::error::{ApiJson, ApiPath, ApiQuery};
use streambox_common::feeds::Cursor;
use streambox_common::ids::{UserId, VideoId};
use streambox_common::text::TextRule;
use streambox_common::{ApiError, ApiResult, AppState};
use uuid::Uuid;

use super::pages::{Page, PageQuery};
use super::video_access::viewable;

const MAX_CHARS: usize = 2000;

#[derive(Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct Comment {
    id: Uuid,
    video_id: VideoId,
    author_id: UserId,
    author_name: String,
    parent_id: Option<Uuid>,
    body: String,
    reply_count: i64,
    created_at: DateTime<Utc>,
    edited_at: Option<DateTime<Utc>>,
}

macro_rules! comment_select {
    () => {
        "SELECT c.id, c.video_id, c.author_id, u.display_name AS author_name, c.parent_id, c.body,
                (SELECT count(*) FROM comments r WHERE r.parent_id = c.id) AS reply_count,
                c.created_at, c.edited_at
         FROM comments c JOIN users u ON u.id = c.author_id "
    };
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    #[schemars(schema_with = "body_schema")]
    body: String,
    parent_id: Option<Uuid>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentEdit {
    #[schemars(schema_with = "body_schema")]
    body: String,
}

/// 1..=2000 characters after trimming; line breaks and tabs allowed.
const BODY: TextRule = TextRule { field: "body", min_chars: 1, max_chars: MAX_CHARS, multiline: true };

fn body_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    BODY.schema()
}

fn parse_body(raw: &str) -> ApiResult<String> {
    Ok(BODY.check(raw)?)
}

async fn find(state: &AppState, id: Uuid) -> ApiResult<Option<Comment>> {
    Ok(sqlx::query_as(concat!(comment_select!(), "WHERE c.id = $1")).bind(id).fetch_optional(&state.db).await?)
}

/// The comment, if its video is visible to `viewer`; 404 otherwise, like a missing one.
async fn visible(state: &AppState, id: Uuid, viewer: Option<AuthUser>) -> ApiResult<Comment> {
    let comment = find(state, id).await?.ok_or_else(|| ApiError::not_found("comment"))?;
    viewable(state, comment.video_id, viewer).await.map_err(|_| ApiError::not_found("comment"))?;
    Ok(comment)
}

pub async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(video): ApiPath<VideoId>,
    ApiJson(new): ApiJson<NewComment>,
) -> ApiResult<(StatusCode, Json<Comment>)> {
    viewable(&state, video, Some(user)).await?;
    let body = parse_body(&new.body)?;
    if let Some(parent) = new.parent_id {
        let parent = find(&state, parent).await?.filter(|p| p.video_id == video);
        match parent {
            None => return Err(ApiError::invalid_field("parent_id", "is not a comment on this video")),
            Some(p) if p.parent_id.is_some() => {
                return Err(ApiError::invalid_field("parent_id", "replies cannot be replied to; reply to the comment"));
            }
            Some(_) => {}
        }
    }
    let id = Uuid::new_v4();
    sqlx::query("INSERT INTO comments (id, video_id, author_id, parent_id, body) VALUES ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(video)
        .bind(user.id)
        .bind(new.parent_id)
        .bind(&body)
        .execute(&state.db)
        .await?;
    let comment = find(&state, id).await?.ok_or_else(|| ApiError::internal("a new comment vanished"))?;
    Ok((StatusCode::CREATED, Json(comment)))
}

/// Top-level comments, newest first.
pub async fn list(
    State(state): State<AppState>,
    viewer: Option<AuthUser>,
    ApiPath(video): ApiPath<VideoId>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Comment>>> {
    viewable(&state, video, viewer).await?;
    let newest_first = concat!(
        comment_select!(),
        "WHERE c.video_id = $1 AND c.parent_id IS NULL
           AND ($2::timestamptz IS NULL OR (c.created_at, c.id) < ($2, $3))
         ORDER BY c.created_at DESC, c.id DESC LIMIT $4"
    );
    page_of(&state, newest_first, video.0, page).await
}

/// Replies to a comment, oldest first (a conversation reads forwards).
pub async fn replies(
    State(state): State<AppState>,
    viewer: Option<AuthUser>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Comment>>> {
    let parent = visible(&state, id, viewer).await?;
    let oldest_first = concat!(
        comment_select!(),
        "WHERE c.parent_id = $1 AND ($2::timestamptz IS NULL OR (c.created_at, c.id) > ($2, $3))
         ORDER BY c.created_at, c.id LIMIT $4"
    );
    page_of(&state, oldest_first, parent.id, page).await
}

/// Runs a page query of comments: `$1` what they belong to, `$2, $3` the cursor, `$4` the limit.
async fn page_of(state: &AppState, sql: &'static str, of: Uuid, page: PageQuery) -> ApiResult<Json<Page<Comment>>> {
    let (limit, after) = (page.limit()?, page.cursor()?);
    let (at, id) = Cursor::time_bounds(after);
    let rows: Vec<Comment> = sqlx::query_as(sql).bind(of).bind(at).bind(id).bind(limit).fetch_all(&state.db).await?;
    Ok(Json(Page::of(rows, limit, |c| Cursor { key: c.created_at.timestamp_micros(), id: c.id }, |c| c)))
}

pub async fn edit(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(edit): ApiJson<CommentEdit>,
) -> ApiResult<Json<Comment>> {
    let comment = visible(&state, id, Some(user)).await?;
    if comment.author_id != user.id {
        return Err(ApiError::forbidden("only its author can edit a comment"));
    }
    let body = parse_body(&edit.body)?;
    sqlx::query("UPDATE comments SET body = $2, edited_at = now() WHERE id = $1")
        .bind(id)
        .bind(&body)
        .execute(&state.db)
        .await?;
    Ok(Json(find(&state, id).await?.ok_or_else(|| ApiError::not_found("comment"))?))
}

pub async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    let comment = visible(&state, id, Some(user)).await?;
    let video_owner: UserId = sqlx::query_scalar("SELECT owner_id FROM videos WHERE id = $1")
        .bind(comment.video_id)
        .fetch_one(&state.db)
        .await?;
    if comment.author_id != user.id && !user.may_manage(video_owner) {
        return Err(ApiError::forbidden("only its author, the video's owner or an admin can delete a comment"));
    }
    sqlx::query("DELETE FROM comments WHERE id = $1").bind(id).execute(&state.db).await?;
    Ok(StatusCode::NO_CONTENT)
}
