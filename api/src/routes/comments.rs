//! Comments with one level of replies. Authors edit and delete their own; the video's
//! owner and admins may delete any on it. Only those who can see the video see them.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use streambox_base::ids::VideoId;
use streambox_db::comments::{self, Body, Comment};
use streambox_db::videos::Video;
use streambox_http::auth::AuthUser;
use streambox_http::error::{ApiJson, ApiPath, ApiQuery};
use streambox_http::{ApiError, ApiResult, AppState};
use uuid::Uuid;

use super::pages::{Page, PageQuery};
use super::video_access::viewable;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    #[schemars(with = "Body")]
    body: String,
    parent_id: Option<Uuid>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentEdit {
    #[schemars(with = "Body")]
    body: String,
}

/// The comment and its video, if the video is visible to `viewer`; 404 otherwise,
/// like a missing one.
async fn visible(state: &AppState, id: Uuid, viewer: Option<AuthUser>) -> ApiResult<(Comment, Video)> {
    let comment = comments::find(&state.db, id).await?.ok_or_else(|| ApiError::not_found("comment"))?;
    let video = viewable(state, comment.video_id, viewer).await.map_err(|_| ApiError::not_found("comment"))?;
    Ok((comment, video))
}

pub async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(video): ApiPath<VideoId>,
    ApiJson(new): ApiJson<NewComment>,
) -> ApiResult<(StatusCode, Json<Comment>)> {
    viewable(&state, video, Some(user)).await?;
    let body = Body::parse(&new.body)?;
    if let Some(parent) = new.parent_id {
        let parent = comments::find(&state.db, parent).await?.filter(|p| p.video_id == video);
        match parent {
            None => return Err(ApiError::invalid_field("parent_id", "is not a comment on this video")),
            Some(p) if p.parent_id.is_some() => {
                return Err(ApiError::invalid_field("parent_id", "replies cannot be replied to; reply to the comment"));
            }
            Some(_) => {}
        }
    }
    let comment = comments::create(&state.db, video, user.id, new.parent_id, &body)
        .await?
        .ok_or_else(|| ApiError::internal("a new comment vanished"))?;
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
    let limit = page.limit()?;
    let rows = comments::top_level(&state.db, video, page.cursor()?, limit).await?;
    Ok(Json(Page::of(rows, limit, Comment::cursor, |c| c)))
}

/// Replies to a comment, oldest first (a conversation reads forwards).
pub async fn replies(
    State(state): State<AppState>,
    viewer: Option<AuthUser>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Comment>>> {
    let (parent, _) = visible(&state, id, viewer).await?;
    let limit = page.limit()?;
    let rows = comments::replies(&state.db, parent.id, page.cursor()?, limit).await?;
    Ok(Json(Page::of(rows, limit, Comment::cursor, |c| c)))
}

pub async fn edit(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(edit): ApiJson<CommentEdit>,
) -> ApiResult<Json<Comment>> {
    let (comment, _) = visible(&state, id, Some(user)).await?;
    if comment.author_id != user.id {
        return Err(ApiError::forbidden("only its author can edit a comment"));
    }
    let body = Body::parse(&edit.body)?;
    Ok(Json(comments::edit(&state.db, id, &body).await?.ok_or_else(|| ApiError::not_found("comment"))?))
}

pub async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    let (comment, video) = visible(&state, id, Some(user)).await?;
    if comment.author_id != user.id && !user.may_manage(video.owner_id) {
        return Err(ApiError::forbidden("only its author, the video's owner or an admin can delete a comment"));
    }
    comments::delete(&state.db, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
