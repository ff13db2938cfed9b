mod admin_jobs;
mod analytics;
mod auth;
mod captions;
mod comments;
mod creators;
mod discovery;
mod downloads;
mod email;
mod follows;
mod history;
mod likes;
mod me;
mod notifications;
mod oidc;
mod pages;
mod quotas;
mod video_access;
mod videos;
mod views;
mod webhooks;

use std::sync::Arc;

use axum::Extension;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use streambox_http::AppState;
use streambox_http::error_codes as codes;
use streambox_http::routes::{Access, Content, Doc, RequestBody, Routes, schema_of};
use tokio_util::sync::CancellationToken;

use self::admin_jobs::{JobDetail, JobList, ListQuery, Retried};
use self::analytics::{AnalyticsQuery, BeatTaken, CreatorAnalytics, Heartbeat, VideoAnalytics};
use self::comments::{CommentEdit, NewComment};
use self::creators::CreatorProfile;
use self::discovery::{PopularVideo, SearchQuery, SearchResults};
use self::follows::FollowState;
use self::history::{HistoryEntry, Progress};
use self::likes::LikeState;
use self::me::{Me, ProfileChange};
use self::notifications::{MarkRead, NotificationList, NotificationQuery, UnreadCount};
use self::oidc::SingleSignOn;
use self::pages::{Page, PageQuery};
use self::videos::{Playback, VideoChange, VideoList, VideoView};
use self::views::ViewRecorded;
use self::webhooks::{
    CreatedWebhook, DeliveryList, NewWebhook, RotatedSecret, WebhookChange, WebhookList, WebhookView,
};
use crate::live::{Hub, LiveEvent};
use crate::mail::Outbox;
use crate::oidc::Provider;
use crate::sessions::SessionTokens;
use streambox_db::comments::Comment;
use streambox_db::follows::Person;
use streambox_db::webhooks::Delivery;

/// The routes as a server runs them: with the live-updates hub they share, the outbox
/// their mail goes to, and the OpenID provider of single sign-on (if configured).
pub fn serving(state: &AppState, shutdown: CancellationToken, outbox: Outbox) -> Routes {
    let hub = Hub::new(state.clone(), shutdown);
    let sso = SingleSignOn(state.config.oidc.clone().map(|config| Arc::new(Provider::new(config))));
    routes().map_router(|router| router.layer(Extension(hub)).layer(Extension(outbox)).layer(Extension(sso)))
}

/// What the mailed-link routes answer, as the API document says it.
const LINK_INVALID: &str = "The token is not one of a mailed link of this kind";
const LINK_GONE: &str = "The link was used already, or has expired";
const MAIL_ACCEPTED: &str = "Taken: if the address has an account (that needs it), a link is on its way";
const MAIL_THROTTLED: &str = "Too many mails were asked for from this address this hour: wait `Retry-After` seconds";

pub fn routes() -> Routes {
    let refresh_body = RequestBody::OptionalJson(schema_of::<auth::RefreshRequest>);
    Routes::new()
        .post("/api/v1/auth/register", auth::register)
        .doc(
            Doc::new("Create an account")
                .json::<auth::RegisterRequest>()
                .created::<auth::RegisteredUser>("The new account; a link to verify its address is mailed to it")
                .error(409, &[codes::EMAIL_TAKEN], "The email is taken")
                .error(
                    429,
                    &[codes::REGISTRATION_THROTTLED],
                    "Too many accounts were registered from this address this hour",
                ),
        )
        .post("/api/v1/auth/login", auth::login)
        .doc(
            Doc::new("Sign in: an access token (and refresh cookie)")
                .json::<auth::LoginRequest>()
                .ok::<SessionTokens>("Tokens; the same are set as cookies")
                .error(401, &[codes::UNAUTHORIZED], "The email or password is incorrect")
                .error(
                    429,
                    &[codes::LOGIN_THROTTLED],
                    "Too many failed sign-ins for this account from this address (or from this address): \
                     wait `Retry-After` seconds",
                ),
        )
        .post("/api/v1/auth/refresh", auth::refresh)
        .doc(
            Doc::new("Exchange a refresh token (JSON body, or the cookie) for new tokens (rotates it)")
                .body(refresh_body)
                .ok::<SessionTokens>("New tokens; the same are set as cookies")
                .error(401, &[codes::UNAUTHORIZED], "The refresh token is missing, invalid or expired"),
        )
        .post("/api/v1/auth/logout", auth::logout)
        .doc(
            Doc::new("Sign out: revoke the refresh token and the session's access tokens")
                .body(refresh_body)
                .no_content("Signed out; the cookies are cleared"),
        )
        .get("/api/v1/auth/oidc", oidc::info)
        .doc(
            Doc::new("Whether single sign-on is on, and the provider's name")
                .ok::<oidc::SsoInfo>("What the sign-in page offers"),
        )
        .get("/api/v1/auth/oidc/start", oidc::start)
        .doc(
            Doc::new("Single sign-on: send the browser to the OpenID provider")
                .query::<oidc::StartQuery>()
                .reply(302, "To the provider's authorization endpoint; sets the `sb_oidc` cookie", Content::None)
                .error(404, &[codes::NOT_FOUND], "Single sign-on is not configured")
                .error(
                    503,
                    &[codes::UNAVAILABLE],
                    "The provider cannot be reached or its discovery document is unusable",
                ),
        )
        .get("/api/v1/auth/oidc/callback", oidc::callback)
        .doc(
            Doc::new("Single sign-on: where the provider sends the browser back")
                .query::<oidc::CallbackQuery>()
                .reply(
                    303,
                    "Signed in (the session cookies are set) to the sign-in's return path; or not, to \
                     `/#/signin?error=CODE` with one of invalid_oidc_state, invalid_oidc_nonce, \
                     invalid_oidc_token, oidc_denied, oidc_email_unverified, unavailable",
                    Content::None,
                )
                .error(404, &[codes::NOT_FOUND], "Single sign-on is not configured"),
        )
        .post("/api/v1/auth/verify-email", email::verify)
        .doc(
            Doc::new("Verify an account's email address with the token of the link mailed to it")
                .json::<email::LinkToken>()
                .no_content("Verified")
                .error(400, &[codes::EMAIL_LINK_INVALID], LINK_INVALID)
                .error(410, &[codes::EMAIL_LINK_USED, codes::EMAIL_LINK_EXPIRED], LINK_GONE),
        )
        .post("/api/v1/auth/verify-email/resend", email::resend_verification)
        .doc(
            Doc::new("Mail the verification link again (answered alike whether or not the address has an account)")
                .json::<email::MailRequest>()
                .reply(202, MAIL_ACCEPTED, Content::None)
                .error(429, &[codes::EMAIL_THROTTLED], MAIL_THROTTLED),
        )
        .post("/api/v1/auth/password-reset", email::request_reset)
        .doc(
            Doc::new("Mail a password-reset link (answered alike whether or not the address has an account)")
                .json::<email::MailRequest>()
                .reply(202, MAIL_ACCEPTED, Content::None)
                .error(429, &[codes::EMAIL_THROTTLED], MAIL_THROTTLED),
        )
        .post("/api/v1/auth/password-reset/complete", email::reset_password)
        .doc(
            Doc::new("Set a new password with the token of a reset link; signs out every session of the account")
                .json::<email::PasswordReset>()
                .no_content("The password is changed and every session revoked")
                .error(400, &[codes::EMAIL_LINK_INVALID], LINK_INVALID)
                .error(410, &[codes::EMAIL_LINK_USED, codes::EMAIL_LINK_EXPIRED], LINK_GONE),
        )
        .get("/api/v1/me", me::get)
        .doc(Doc::new("The signed-in account").signed_in().ok::<Me>("The account"))
        .patch("/api/v1/me", me::update)
        .doc(
            Doc::new("Edit display name and bio")
                .signed_in()
                .json::<ProfileChange>()
                .ok::<Me>("The account as changed"),
        )
        .get("/api/v1/me/quota", quotas::mine)
        .doc(
            Doc::new("Your upload quotas and what you use of them")
                .signed_in()
                .ok::<quotas::QuotaReport>("Limits (null where unlimited), admin overrides and usage"),
        )
        .get("/api/v1/me/history", history::list)
        .doc(
            Doc::new("Watch history, most recent first (keyset pages)")
                .signed_in()
                .query::<PageQuery>()
                .error(400, &[codes::INVALID_CURSOR], "The cursor is not one this server gave out")
                .ok::<Page<HistoryEntry>>("A page of the history"),
        )
        .delete("/api/v1/me/history", history::clear)
        .doc(Doc::new("Clear the watch history").signed_in().no_content("Cleared"))
        .put("/api/v1/me/history/{id}", history::record)
        .doc(Doc::new("Record where playback of a video stands").signed_in().json::<Progress>().no_content("Recorded"))
        .delete("/api/v1/me/history/{id}", history::forget)
        .doc(Doc::new("Remove one video from the watch history").signed_in().no_content("Removed"))
        .get("/api/v1/me/notifications", notifications::list)
        .doc(
            Doc::new("Your notifications, unread first, then newest")
                .signed_in()
                .query::<NotificationQuery>()
                .ok::<NotificationList>("The notifications and how many are unread"),
        )
        .post("/api/v1/me/notifications/read", notifications::mark_read)
        .doc(
            Doc::new("Mark notifications read (the ids given, or all)")
                .signed_in()
                .json::<MarkRead>()
                .ok::<UnreadCount>("How many are still unread"),
        )
        .get("/api/v1/me/analytics", analytics::mine)
        .doc(
            Doc::new("Analytics of all your videos per day and in total, with your most watched")
                .signed_in()
                .query::<AnalyticsQuery>()
                .ok::<CreatorAnalytics>("Views, viewers, watch time, completion, playback quality and top videos"),
        )
        .get("/api/v1/me/videos", videos::mine)
        .doc(
            Doc::new("Your videos in every state and visibility, newest first (keyset pages), with progress")
                .signed_in()
                .query::<PageQuery>()
                .error(400, &[codes::INVALID_CURSOR], "The cursor is not one this server gave out")
                .ok::<Page<VideoView>>("A page of your videos"),
        )
        .get("/api/v1/me/updates", crate::live::stream)
        .doc(
            Doc::new("Live updates of your videos in flight (and the queue, for administrators)")
                .signed_in()
                .reply(
                    200,
                    "Server-Sent Events: `ready`, then `video` and (administrators) `queue` whenever they change, \
             and `end` before the stream closes (at the access token's expiry, sign-out or shutdown)",
                    Content::EventStream(schema_of::<LiveEvent>),
                )
                .error(429, &[codes::TOO_MANY_STREAMS], "The account has as many streams open as it may"),
        )
        .post("/api/v1/webhooks", webhooks::create)
        .doc(
            Doc::new("Register a webhook endpoint (creators; scope all: administrators)")
                .signed_in()
                .json::<NewWebhook>()
                .created::<CreatedWebhook>("The endpoint and its signing secret, shown this once")
                .error(
                    422,
                    &[codes::INVALID_FIELD, codes::WEBHOOK_TARGET_FORBIDDEN],
                    "An unknown event type, or a URL that is malformed or points inside the network",
                )
                .error(409, &[codes::TOO_MANY_WEBHOOKS], "The account has as many endpoints as it may"),
        )
        .get("/api/v1/webhooks", webhooks::list)
        .doc(Doc::new("Your webhook endpoints").signed_in().ok::<WebhookList>("The endpoints (without secrets)"))
        .get("/api/v1/webhooks/{id}", webhooks::get)
        .doc(Doc::new("One webhook endpoint (owner or admin)").signed_in().ok::<WebhookView>("The endpoint"))
        .patch("/api/v1/webhooks/{id}", webhooks::update)
        .doc(
            Doc::new("Change an endpoint's URL or events, or pause and resume it (owner or admin)")
                .signed_in()
                .json::<WebhookChange>()
                .ok::<WebhookView>("The endpoint as changed")
                .error(
                    422,
                    &[codes::INVALID_FIELD, codes::WEBHOOK_TARGET_FORBIDDEN],
                    "An unknown event type, or a URL that is malformed or points inside the network",
                ),
        )
        .delete("/api/v1/webhooks/{id}", webhooks::delete)
        .doc(Doc::new("Delete an endpoint and its deliveries (owner or admin)").signed_in().no_content("Deleted"))
        .post("/api/v1/webhooks/{id}/rotate-secret", webhooks::rotate_secret)
        .doc(
            Doc::new("Replace the signing secret; the old one also signs for 24 hours (owner or admin)")
                .signed_in()
                .ok::<RotatedSecret>("The new secret, shown this once"),
        )
        .get("/api/v1/webhooks/{id}/deliveries", webhooks::deliveries)
        .doc(
            Doc::new("An endpoint's recent deliveries with status code and latency (owner or admin)")
                .signed_in()
                .ok::<DeliveryList>("Newest first"),
        )
        .post("/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver", webhooks::redeliver)
        .doc(Doc::new("Send a delivery's event again (owner or admin)").signed_in().reply(
            202,
            "Queued as a new delivery of the same event",
            Content::Json(schema_of::<Delivery>),
        ))
        .get("/api/v1/creators/{id}", creators::get)
        .doc(
            Doc::new("A creator's public profile (signed in: whether you follow them)")
                .access(Access::OptionalSignIn)
                .ok::<CreatorProfile>("The profile, follower count and latest public videos"),
        )
        .get("/api/v1/creators/{id}/videos", discovery::by_creator)
        .doc(
            Doc::new("A creator's public videos, newest first (keyset pages)")
                .query::<PageQuery>()
                .error(400, &[codes::INVALID_CURSOR], "The cursor is not one this server gave out")
                .ok::<Page<VideoView>>("A page of videos"),
        )
        .put("/api/v1/creators/{id}/follow", follows::follow)
        .doc(Doc::new("Follow a creator (idempotent)").signed_in().ok::<FollowState>("Followed").error(
            422,
            &[codes::CANNOT_FOLLOW_SELF],
            "Nobody follows themselves",
        ))
        .delete("/api/v1/creators/{id}/follow", follows::unfollow)
        .doc(Doc::new("Stop following a creator (idempotent)").signed_in().ok::<FollowState>("Not followed"))
        .get("/api/v1/creators/{id}/followers", follows::followers)
        .doc(
            Doc::new("Who follows a creator (keyset pages)")
                .query::<PageQuery>()
                .error(400, &[codes::INVALID_CURSOR], "The cursor is not one this server gave out")
                .ok::<Page<Person>>("A page of followers"),
        )
        .get("/api/v1/users/{id}/following", follows::following)
        .doc(
            Doc::new("Whom a user follows (keyset pages)")
                .query::<PageQuery>()
                .error(400, &[codes::INVALID_CURSOR], "The cursor is not one this server gave out")
                .ok::<Page<Person>>("A page of followed creators"),
        )
        .get("/api/v1/feed/latest", discovery::latest)
        .doc(
            Doc::new("Newest public videos (keyset pages)")
                .query::<PageQuery>()
                .error(400, &[codes::INVALID_CURSOR], "The cursor is not one this server gave out")
                .ok::<Page<VideoView>>("A page of videos"),
        )
        .get("/api/v1/feed/popular", discovery::popular)
        .doc(
            Doc::new("Most viewed public videos of the last 7 days (keyset pages)")
                .query::<PageQuery>()
                .error(400, &[codes::INVALID_CURSOR], "The cursor is not one this server gave out")
                .ok::<Page<PopularVideo>>("A page of videos"),
        )
        .get("/api/v1/feed/following", discovery::following)
        .doc(
            Doc::new("Newest public videos of followed creators (keyset pages)")
                .signed_in()
                .query::<PageQuery>()
                .error(400, &[codes::INVALID_CURSOR], "The cursor is not one this server gave out")
                .ok::<Page<VideoView>>("A page of videos"),
        )
        .get("/api/v1/search", discovery::search)
        .doc(
            Doc::new("Search public videos by title, creator and description (?q=, prefix words)")
                .query::<SearchQuery>()
                .ok::<SearchResults>("The best matches first"),
        )
        .get("/api/v1/videos", videos::list)
        .doc(
            Doc::new("Public videos and the caller's own, newest first")
                .access(Access::OptionalSignIn)
                .ok::<VideoList>("The videos"),
        )
        .get("/api/v1/videos/{id}", videos::get)
        .doc(
            Doc::new("A video's details, likes and transcode progress")
                .access(Access::OptionalSignIn)
                .ok::<VideoView>("The video"),
        )
        .patch("/api/v1/videos/{id}", videos::update)
        .doc(
            Doc::new("Edit title, description or visibility (owner or admin)")
                .signed_in()
                .json::<VideoChange>()
                .ok::<VideoView>("The video as changed"),
        )
        .delete("/api/v1/videos/{id}", videos::delete)
        .doc(Doc::new("Delete a video and all its files (owner or admin)").signed_in().no_content("Deleted"))
        .get("/api/v1/videos/{id}/playback", videos::playback)
        .doc(
            Doc::new("Playback URLs, with a short-lived token unless public")
                .access(Access::OptionalSignIn)
                .ok::<Playback>("Where to play it")
                .error(409, &[codes::NOT_READY], "The video is not ready to play yet"),
        )
        .get("/api/v1/videos/{id}/original", videos::original)
        .doc(
            Doc::new("Download the uploaded original (owner or admin; ranges)")
                .signed_in()
                .reply(200, "The original file", Content::Media(&["application/octet-stream"]))
                .reply(206, "The requested range", Content::Media(&["application/octet-stream"]))
                .reply(304, "Not modified since the validator given", Content::None)
                .error(416, &[codes::RANGE_NOT_SATISFIABLE], "The range is outside the file"),
        )
        .get("/api/v1/videos/{id}/download", downloads::download)
        .doc(
            Doc::new("Download the video as an MP4 (when its owner allows it; owners and admins always; ranges)")
                .access(Access::OptionalSignIn)
                .reply(
                    200,
                    "The MP4, as an attachment named after the title",
                    Content::Media(&[downloads::CONTENT_TYPE]),
                )
                .reply(206, "The requested range", Content::Media(&[downloads::CONTENT_TYPE]))
                .reply(304, "Not modified since the validator given", Content::None)
                .error(403, &[codes::DOWNLOAD_NOT_ALLOWED], "The owner does not allow downloads")
                .error(404, &[codes::DOWNLOAD_UNAVAILABLE], "The video has no download")
                .error(409, &[codes::NOT_READY], "The video is not finished yet")
                .error(416, &[codes::RANGE_NOT_SATISFIABLE], "The range is outside the file"),
        )
        .get("/api/v1/videos/{id}/captions", captions::list)
        .doc(
            Doc::new("A video's caption tracks (whoever may see the video)")
                .access(Access::OptionalSignIn)
                .ok::<captions::CaptionList>("The tracks by language, with their WebVTT and HLS playlist URLs"),
        )
        .get("/api/v1/videos/{id}/captions/{lang}", captions::get)
        .doc(
            Doc::new("One caption track as WebVTT (whoever may see the video)")
                .access(Access::OptionalSignIn)
                .reply(200, "The normalised WebVTT", Content::Media(&["text/vtt"]))
                .error(400, &[codes::INVALID_LANGUAGE], "The language is not a BCP 47 tag such as en or pt-BR"),
        )
        .post("/api/v1/videos/{id}/captions/{lang}", captions::upload)
        .doc(
            Doc::new(
                "Upload (or replace) the caption track of a language: a WebVTT or SRT file as the body, \
                 at most 1 MiB; kept as WebVTT and published as an HLS subtitle rendition (owner or admin)",
            )
            .signed_in()
            .body(RequestBody::Text("text/vtt"))
            .query::<captions::UploadQuery>()
            .created::<captions::CaptionView>("The track as stored")
            .error(
                400,
                &[codes::INVALID_LANGUAGE, codes::INCOMPLETE_BODY],
                "The language is not a BCP 47 tag such as en or pt-BR, or the file did not arrive whole",
            )
            .error(
                422,
                &[codes::CAPTION_NOT_TEXT, codes::CAPTION_UNPARSABLE],
                "The file is not UTF-8 text, or not WebVTT or SRT cues",
            ),
        )
        .delete("/api/v1/videos/{id}/captions/{lang}", captions::delete)
        .doc(
            Doc::new("Delete the caption track of a language (owner or admin)")
                .signed_in()
                .no_content("Deleted; the master no longer names it")
                .error(400, &[codes::INVALID_LANGUAGE], "The language is not a BCP 47 tag such as en or pt-BR"),
        )
        .put("/api/v1/videos/{id}/like", likes::like)
        .doc(Doc::new("Like a video (idempotent)").signed_in().ok::<LikeState>("Liked"))
        .delete("/api/v1/videos/{id}/like", likes::unlike)
        .doc(Doc::new("Take back a like (idempotent)").signed_in().ok::<LikeState>("Not liked"))
        .post("/api/v1/videos/{id}/views", views::record)
        .doc(
            Doc::new("Report a view (counted once per viewer per 30 minutes)")
                .access(Access::OptionalSignIn)
                .reply(202, "Taken", Content::Json(schema_of::<ViewRecorded>))
                .error(409, &[codes::NOT_READY], "The video is not ready to play yet"),
        )
        .post(
            "/api/v1/videos/{id}/heartbeats",
            analytics::beat.layer(DefaultBodyLimit::max(analytics::BEAT_BODY_LIMIT)),
        )
        .doc(
            Doc::new("Report playback: every ~10 s while playing, and on pause, end and page hide")
                .access(Access::OptionalSignIn)
                .json::<Heartbeat>()
                .reply(202, "Taken; says what it was credited", Content::Json(schema_of::<BeatTaken>))
                .error(409, &[codes::NOT_READY], "The video is not ready to play yet"),
        )
        .get("/api/v1/videos/{id}/analytics", analytics::video)
        .doc(
            Doc::new("A video's analytics per day and in total (owner or admin)")
                .signed_in()
                .query::<AnalyticsQuery>()
                .ok::<VideoAnalytics>("Views, viewers, watch time, completion and playback quality"),
        )
        .get("/api/v1/videos/{id}/comments", comments::list)
        .doc(
            Doc::new("Top-level comments, newest first (keyset pages)")
                .access(Access::OptionalSignIn)
                .query::<PageQuery>()
                .error(400, &[codes::INVALID_CURSOR], "The cursor is not one this server gave out")
                .ok::<Page<Comment>>("A page of comments"),
        )
        .post("/api/v1/videos/{id}/comments", comments::create)
        .doc(
            Doc::new("Comment on a video, or reply to a top-level comment")
                .signed_in()
                .json::<NewComment>()
                .created::<Comment>("The comment"),
        )
        .get("/api/v1/comments/{id}/replies", comments::replies)
        .doc(
            Doc::new("Replies to a comment, oldest first (keyset pages)")
                .access(Access::OptionalSignIn)
                .query::<PageQuery>()
                .error(400, &[codes::INVALID_CURSOR], "The cursor is not one this server gave out")
                .ok::<Page<Comment>>("A page of replies"),
        )
        .patch("/api/v1/comments/{id}", comments::edit)
        .doc(Doc::new("Edit a comment (its author)").signed_in().json::<CommentEdit>().ok::<Comment>("The comment"))
        .delete("/api/v1/comments/{id}", comments::delete)
        .doc(Doc::new("Delete a comment (author, video owner or admin)").signed_in().no_content("Deleted"))
        .get("/api/v1/admin/users/{id}/quota", quotas::get)
        .doc(
            Doc::new("A user's upload quotas and usage")
                .access(Access::Admin)
                .ok::<quotas::QuotaReport>("Limits (null where unlimited), overrides and usage"),
        )
        .put("/api/v1/admin/users/{id}/quota", quotas::set)
        .doc(
            Doc::new("Override a user's quotas (null: the default; -1: unlimited)")
                .access(Access::Admin)
                .json::<streambox_db::quotas::Overrides>()
                .ok::<quotas::QuotaReport>("The quotas as they now apply"),
        )
        .get("/api/v1/admin/jobs", admin_jobs::list)
        .doc(
            Doc::new("Transcode jobs, filtered by state")
                .access(Access::Admin)
                .query::<ListQuery>()
                .ok::<JobList>("A page of jobs with counts per state"),
        )
        .get("/api/v1/admin/jobs/{id}", admin_jobs::get)
        .doc(
            Doc::new("One transcode job with its attempt errors")
                .access(Access::Admin)
                .ok::<JobDetail>("The job and its video"),
        )
        .post("/api/v1/admin/jobs/{id}/retry", admin_jobs::retry)
        .doc(Doc::new("Retry a dead job").access(Access::Admin).ok::<JobDetail>("The job, queued again").error(
            409,
            &[codes::JOB_NOT_DEAD],
            "The job is not dead",
        ))
        .post("/api/v1/admin/jobs/retry-dead", admin_jobs::retry_dead)
        .doc(Doc::new("Retry every dead job").access(Access::Admin).ok::<Retried>("How many were queued again"))
        .post("/api/v1/admin/jobs/{id}/discard", admin_jobs::discard)
        .doc(
            Doc::new("Discard a dead job (its video stays failed)")
                .access(Access::Admin)
                .ok::<JobDetail>("The job, discarded")
                .error(409, &[codes::JOB_NOT_DEAD], "The job is not dead"),
        )
}
