//! Every route × every kind of caller → the expected status. The table must name
//! exactly the routes the router serves: a route added without a row fails here.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::json;
use streambox::server::{self, Mode};
use uuid::Uuid;

use crate::support::{TestApp, TestUser};

/// Callers, in the order of each row's expected statuses.
#[derive(Clone, Copy, Debug)]
enum Who {
    Anonymous,
    /// A creator who does not own the target.
    Other,
    /// A viewer (may not upload).
    Viewer,
    Owner,
    Admin,
}

const CALLERS: [Who; 5] = [Who::Anonymous, Who::Other, Who::Viewer, Who::Owner, Who::Admin];

/// What the path's placeholders point at.
#[derive(Clone, Copy, Debug)]
enum Target {
    Nothing,
    /// The owner's creator profile.
    Creator,
    /// A fresh ready video of the owner, with this visibility, requested without a playback token…
    Video(&'static str),
    /// …or with a playback token obtained by its owner.
    VideoWithToken(&'static str),
    /// A fresh ready video of the owner with encrypted segments, with this visibility,
    /// requested without a playback token…
    EncryptedVideo(&'static str),
    /// …or with one.
    EncryptedVideoWithToken(&'static str),
    /// A ready video with a download, which its owner lets others fetch when true.
    VideoWithDownload(&'static str, bool),
    /// A fresh ready video of the owner, with this visibility, with an `en` caption track.
    VideoWithCaption(&'static str),
    /// A dead transcode job of one of the owner's videos.
    DeadJob,
    /// A resumable upload of the owner's, 1000 bytes long, nothing sent yet.
    TusUpload,
    /// A direct upload of the owner's whose file is in storage, waiting to be completed.
    PresignedUpload,
    /// A comment by the owner on their public video.
    Comment,
    /// A webhook endpoint of the owner's.
    Webhook,
    /// A delivery to a webhook endpoint of the owner's.
    WebhookDelivery,
    /// No placeholder; this query string appended.
    Query(&'static str),
}

/// Request bodies some routes need to get past validation.
#[derive(Clone, Copy, Debug)]
enum Body {
    None,
    Register,
    Login,
    /// A token no link was mailed with.
    LinkToken,
    MailRequest,
    /// A new password with a token no link was mailed with.
    PasswordReset,
    Profile,
    Rename,
    Upload,
    /// Only the tus protocol header.
    Tus,
    TusCreate,
    /// The first 200 bytes of the upload at offset 0.
    TusChunk,
    Presign,
    NewComment,
    CommentEdit,
    /// A one-cue SRT file.
    Caption,
    Progress,
    /// A playback heartbeat.
    Heartbeat,
    NewWebhook,
    WebhookChange,
    MarkRead,
    QuotaOverride,
}

struct Row {
    method: Method,
    path: &'static str,
    target: Target,
    body: Body,
    /// Anonymous, Other, Viewer, Owner, Admin.
    expect: [u16; 5],
}

fn row(method: Method, path: &'static str, target: Target, body: Body, expect: [u16; 5]) -> Row {
    Row { method, path, target, body, expect }
}

fn table() -> Vec<Row> {
    use Body as B;
    use Target::*;
    let (get, post, patch, delete) = (Method::GET, Method::POST, Method::PATCH, Method::DELETE);
    let mut rows = vec![
        row(get.clone(), "/healthz", Nothing, B::None, [200; 5]),
        row(get.clone(), "/readyz", Nothing, B::None, [200; 5]),
        row(get.clone(), "/metrics", Nothing, B::None, [200; 5]),
        row(post.clone(), "/api/v1/auth/register", Nothing, B::Register, [201; 5]),
        row(post.clone(), "/api/v1/auth/login", Nothing, B::Login, [200; 5]),
        // An access token is not a refresh token.
        row(post.clone(), "/api/v1/auth/refresh", Nothing, B::None, [401; 5]),
        row(post.clone(), "/api/v1/auth/logout", Nothing, B::None, [204; 5]),
        // Mailed links: a made-up token is refused; asking for mail is taken from anyone.
        row(post.clone(), "/api/v1/auth/verify-email", Nothing, B::LinkToken, [400; 5]),
        row(post.clone(), "/api/v1/auth/verify-email/resend", Nothing, B::MailRequest, [202; 5]),
        row(post.clone(), "/api/v1/auth/password-reset", Nothing, B::MailRequest, [202; 5]),
        row(post.clone(), "/api/v1/auth/password-reset/complete", Nothing, B::PasswordReset, [400; 5]),
        // Single sign-on is off here (tests/suite/oidc.rs runs it against a provider):
        // anyone may ask whether it is on; its routes are not there.
        row(get.clone(), "/api/v1/auth/oidc", Nothing, B::None, [200; 5]),
        row(get.clone(), "/api/v1/auth/oidc/start", Nothing, B::None, [404; 5]),
        row(get.clone(), "/api/v1/auth/oidc/callback", Query("code=c&state=s"), B::None, [404; 5]),
        row(get.clone(), "/api/v1/me", Nothing, B::None, [401, 200, 200, 200, 200]),
        row(patch.clone(), "/api/v1/me", Nothing, B::Profile, [401, 200, 200, 200, 200]),
        row(get.clone(), "/api/v1/creators/{id}", Creator, B::None, [200; 5]),
        row(get.clone(), "/api/v1/videos", Nothing, B::None, [200; 5]),
        row(post.clone(), "/api/v1/uploads", Nothing, B::Upload, [401, 202, 403, 202, 202]),
        row(post.clone(), "/api/v1/uploads/presigned", Nothing, B::Presign, [401, 201, 403, 201, 201]),
        // Uploads in progress are their uploader's alone: others cannot even see them.
        row(post.clone(), "/api/v1/uploads/{id}/complete", PresignedUpload, B::None, [401, 404, 404, 202, 404]),
        row(Method::OPTIONS, "/api/v1/uploads/tus", Nothing, B::None, [204; 5]),
        row(post.clone(), "/api/v1/uploads/tus", Nothing, B::TusCreate, [401, 201, 403, 201, 201]),
        row(Method::HEAD, "/api/v1/uploads/tus/{id}", TusUpload, B::Tus, [401, 404, 404, 200, 404]),
        row(patch.clone(), "/api/v1/uploads/tus/{id}", TusUpload, B::TusChunk, [401, 404, 404, 204, 404]),
        row(delete.clone(), "/api/v1/uploads/tus/{id}", TusUpload, B::Tus, [401, 404, 404, 204, 404]),
    ];
    // Engagement and discovery.
    let signed_in = |status: u16| [401, status, status, status, status];
    rows.extend([
        row(get.clone(), "/api/v1/me/history", Nothing, B::None, signed_in(200)),
        row(delete.clone(), "/api/v1/me/history", Nothing, B::None, signed_in(204)),
        row(delete.clone(), "/api/v1/me/history/{id}", Video("public"), B::None, signed_in(404)),
        row(get.clone(), "/api/v1/creators/{id}/videos", Creator, B::None, [200; 5]),
        // Following oneself is refused.
        row(Method::PUT, "/api/v1/creators/{id}/follow", Creator, B::None, [401, 200, 200, 422, 200]),
        row(delete.clone(), "/api/v1/creators/{id}/follow", Creator, B::None, signed_in(200)),
        row(get.clone(), "/api/v1/creators/{id}/followers", Creator, B::None, [200; 5]),
        row(get.clone(), "/api/v1/users/{id}/following", Creator, B::None, [200; 5]),
        row(get.clone(), "/api/v1/openapi.json", Nothing, B::None, [200; 5]),
        row(get.clone(), "/api/v1/docs", Nothing, B::None, [200; 5]),
        row(get.clone(), "/api/v1/docs.js", Nothing, B::None, [200; 5]),
        row(get.clone(), "/api/v1/docs.css", Nothing, B::None, [200; 5]),
        row(get.clone(), "/api/v1/feed/latest", Nothing, B::None, [200; 5]),
        row(get.clone(), "/api/v1/feed/popular", Nothing, B::None, [200; 5]),
        row(get.clone(), "/api/v1/feed/following", Nothing, B::None, signed_in(200)),
        row(get.clone(), "/api/v1/search", Query("q=fixture"), B::None, [200; 5]),
        row(get.clone(), "/api/v1/comments/{id}/replies", Comment, B::None, [200; 5]),
        // Edits are the author's; deletions also the video owner's (here the author) and admins'.
        row(patch.clone(), "/api/v1/comments/{id}", Comment, B::CommentEdit, [401, 403, 403, 200, 403]),
        row(delete.clone(), "/api/v1/comments/{id}", Comment, B::None, [401, 403, 403, 204, 204]),
    ]);
    for visibility in ["public", "private"] {
        let private = visibility == "private";
        // Anyone who may see the video / any signed-in user who may see it.
        let anyone = |ok: u16| if private { [404, 404, 404, ok, ok] } else { [ok; 5] };
        let member = |ok: u16| if private { [401, 404, 404, ok, ok] } else { [401, ok, ok, ok, ok] };
        rows.extend([
            row(Method::PUT, "/api/v1/me/history/{id}", Video(visibility), B::Progress, member(204)),
            row(Method::PUT, "/api/v1/videos/{id}/like", Video(visibility), B::None, member(200)),
            row(delete.clone(), "/api/v1/videos/{id}/like", Video(visibility), B::None, member(200)),
            row(post.clone(), "/api/v1/videos/{id}/views", Video(visibility), B::None, anyone(202)),
            row(post.clone(), "/api/v1/videos/{id}/heartbeats", Video(visibility), B::Heartbeat, anyone(202)),
            row(get.clone(), "/api/v1/videos/{id}/comments", Video(visibility), B::None, anyone(200)),
            row(post.clone(), "/api/v1/videos/{id}/comments", Video(visibility), B::NewComment, member(201)),
        ]);
    }
    // Webhooks: creators register; an endpoint and its deliveries are its owner's (and admins').
    let mine = [401, 404, 404, 200, 200];
    rows.extend([
        row(post.clone(), "/api/v1/webhooks", Nothing, B::NewWebhook, [401, 201, 403, 201, 201]),
        row(get.clone(), "/api/v1/webhooks", Nothing, B::None, signed_in(200)),
        row(get.clone(), "/api/v1/webhooks/{id}", Webhook, B::None, mine),
        row(patch.clone(), "/api/v1/webhooks/{id}", Webhook, B::WebhookChange, mine),
        row(delete.clone(), "/api/v1/webhooks/{id}", Webhook, B::None, [401, 404, 404, 204, 204]),
        row(post.clone(), "/api/v1/webhooks/{id}/rotate-secret", Webhook, B::None, mine),
        row(get.clone(), "/api/v1/webhooks/{id}/deliveries", Webhook, B::None, mine),
        row(
            post.clone(),
            "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver",
            WebhookDelivery,
            B::None,
            [401, 404, 404, 202, 202],
        ),
        row(get.clone(), "/api/v1/me/notifications", Nothing, B::None, signed_in(200)),
        row(get.clone(), "/api/v1/me/videos", Nothing, B::None, signed_in(200)),
        row(get.clone(), "/api/v1/me/analytics", Nothing, B::None, signed_in(200)),
        row(get.clone(), "/api/v1/me/quota", Nothing, B::None, signed_in(200)),
        row(get.clone(), "/api/v1/me/updates", Nothing, B::None, signed_in(200)),
        row(post.clone(), "/api/v1/me/notifications/read", Nothing, B::MarkRead, signed_in(200)),
    ]);
    // Operator endpoints: administrators only, whoever owns the video.
    let admin_only = [401, 403, 403, 403, 200];
    rows.push(row(get.clone(), "/api/v1/admin/jobs", Nothing, B::None, admin_only));
    rows.push(row(get.clone(), "/api/v1/admin/jobs/{id}", DeadJob, B::None, admin_only));
    rows.push(row(post.clone(), "/api/v1/admin/jobs/{id}/retry", DeadJob, B::None, admin_only));
    rows.push(row(post.clone(), "/api/v1/admin/jobs/retry-dead", Nothing, B::None, admin_only));
    rows.push(row(post.clone(), "/api/v1/admin/jobs/{id}/discard", DeadJob, B::None, admin_only));
    rows.push(row(get.clone(), "/api/v1/admin/users/{id}/quota", Creator, B::None, admin_only));
    rows.push(row(Method::PUT, "/api/v1/admin/users/{id}/quota", Creator, B::QuotaOverride, admin_only));
    for path in web_app_files() {
        rows.push(row(get.clone(), path, Nothing, B::None, [200; 5]));
    }
    for visibility in ["public", "unlisted", "private"] {
        let private = visibility == "private";
        // Who can see it at all: everyone unless private (then owner and admin only).
        let read = if private { [404, 404, 404, 200, 200] } else { [200; 5] };
        let change = if private { [401, 404, 404, 200, 200] } else { [401, 403, 403, 200, 200] };
        let remove = if private { [401, 404, 404, 204, 204] } else { [401, 403, 403, 204, 204] };
        rows.push(row(get.clone(), "/api/v1/videos/{id}", Video(visibility), B::None, read));
        rows.push(row(patch.clone(), "/api/v1/videos/{id}", Video(visibility), B::Rename, change));
        rows.push(row(delete.clone(), "/api/v1/videos/{id}", Video(visibility), B::None, remove));
        rows.push(row(get.clone(), "/api/v1/videos/{id}/playback", Video(visibility), B::None, read));
        // The original is its owner's (and admins'), whoever may watch the video.
        let original = if private { [401, 404, 404, 200, 200] } else { [401, 403, 403, 200, 200] };
        rows.push(row(get.clone(), "/api/v1/videos/{id}/original", Video(visibility), B::None, original));
        // So are its analytics.
        rows.push(row(get.clone(), "/api/v1/videos/{id}/analytics", Video(visibility), B::None, original));
        // Its download: whoever may watch it when the owner allows it, else its owner and admins.
        let download = if private { [404, 404, 404, 200, 200] } else { [403, 403, 403, 200, 200] };
        rows.push(row(
            get.clone(),
            "/api/v1/videos/{id}/download",
            VideoWithDownload(visibility, false),
            B::None,
            download,
        ));
        rows.push(row(get.clone(), "/api/v1/videos/{id}/download", VideoWithDownload(visibility, true), B::None, read));
        // Captions: read like the video, changed by its owner (and admins).
        let upload = if private { [401, 404, 404, 201, 201] } else { [401, 403, 403, 201, 201] };
        rows.push(row(get.clone(), "/api/v1/videos/{id}/captions", Video(visibility), B::None, read));
        rows.push(row(get.clone(), "/api/v1/videos/{id}/captions/{lang}", VideoWithCaption(visibility), B::None, read));
        rows.push(row(post.clone(), "/api/v1/videos/{id}/captions/{lang}", Video(visibility), B::Caption, upload));
        rows.push(row(
            delete.clone(),
            "/api/v1/videos/{id}/captions/{lang}",
            VideoWithCaption(visibility),
            B::None,
            remove,
        ));
        // Media: public plays directly; the others need a playback token, whoever asks.
        let bare = if visibility == "public" { [200; 5] } else { [403; 5] };
        for path in [
            "/hls/{video_id}/master.m3u8",
            "/hls/{video_id}/poster.jpg",
            "/hls/{video_id}/storyboard.jpg",
            "/hls/{video_id}/storyboard.vtt",
            "/hls/{video_id}/{rendition}/{file}",
        ] {
            rows.push(row(get.clone(), path, Video(visibility), B::None, bare));
            rows.push(row(get.clone(), path, VideoWithToken(visibility), B::None, [200; 5]));
        }
        // The segment key: exactly as the segments.
        rows.push(row(get.clone(), "/hls/{video_id}/key", EncryptedVideo(visibility), B::None, bare));
        rows.push(row(get.clone(), "/hls/{video_id}/key", EncryptedVideoWithToken(visibility), B::None, [200; 5]));
    }
    rows
}

struct World {
    app: TestApp,
    other: TestUser,
    viewer: TestUser,
    owner: TestUser,
    admin: TestUser,
}

impl World {
    fn token(&self, who: Who) -> Option<&str> {
        match who {
            Who::Anonymous => None,
            Who::Other => Some(&self.other.token),
            Who::Viewer => Some(&self.viewer.token),
            Who::Owner => Some(&self.owner.token),
            Who::Admin => Some(&self.admin.token),
        }
    }

    /// The concrete URL for `row`, creating what its target needs.
    async fn url(&self, row: &Row) -> String {
        let (video, token) = match row.target {
            Target::Nothing => (None, None),
            Target::Creator => return self.app.url(&row.path.replace("{id}", &self.owner.id.to_string())),
            Target::DeadJob => {
                let job = self.app.dead_job(self.owner.id).await;
                return self.app.url(&row.path.replace("{id}", &job.to_string()));
            }
            Target::TusUpload => {
                let created = self
                    .app
                    .http
                    .post(self.app.url("/api/v1/uploads/tus"))
                    .bearer_auth(&self.owner.token)
                    .header("tus-resumable", "1.0.0")
                    .header("upload-length", "1000")
                    .header("upload-metadata", "title VGFibGU=")
                    .send()
                    .await
                    .unwrap();
                return self.app.url(created.headers()["location"].to_str().unwrap());
            }
            Target::PresignedUpload => {
                let file = crate::support::fake_video();
                let presign = json!({ "title": "Table", "size": file.len() });
                let granted: serde_json::Value =
                    self.app.presign(&self.owner.token, &presign).await.json().await.unwrap();
                let put = self.app.http.put(granted["upload_url"].as_str().unwrap()).body(file).send().await.unwrap();
                assert!(put.status().is_success());
                return self.app.url(granted["complete_url"].as_str().unwrap());
            }
            Target::Comment => {
                let video = self.app.ready_video(self.owner.id, "public").await;
                let comment = Uuid::new_v4();
                sqlx::query("INSERT INTO comments (id, video_id, author_id, body) VALUES ($1, $2, $3, 'First!')")
                    .bind(comment)
                    .bind(video)
                    .bind(self.owner.id)
                    .execute(self.app.db())
                    .await
                    .unwrap();
                return self.app.url(&row.path.replace("{id}", &comment.to_string()));
            }
            Target::Webhook => {
                let hook = self.webhook().await;
                return self.app.url(&row.path.replace("{id}", &hook));
            }
            Target::WebhookDelivery => {
                let hook = self.webhook().await;
                // A new follow of the owner: an event, and its delivery to the new endpoint.
                sqlx::query("DELETE FROM follows WHERE follower_id = $1 AND creator_id = $2")
                    .bind(self.other.id)
                    .bind(self.owner.id)
                    .execute(self.app.db())
                    .await
                    .unwrap();
                sqlx::query("INSERT INTO follows (follower_id, creator_id) VALUES ($1, $2)")
                    .bind(self.other.id)
                    .bind(self.owner.id)
                    .execute(self.app.db())
                    .await
                    .unwrap();
                let delivery: Uuid = sqlx::query_scalar(
                    "SELECT d.id FROM webhook_deliveries d JOIN events e ON e.id = d.event_id
                     WHERE d.endpoint_id = $1::uuid ORDER BY e.seq DESC LIMIT 1",
                )
                .bind(&hook)
                .fetch_one(self.app.db())
                .await
                .unwrap();
                let path = row.path.replace("{id}", &hook).replace("{delivery_id}", &delivery.to_string());
                return self.app.url(&path);
            }
            Target::Query(query) => return self.app.url(&format!("{}?{query}", row.path)),
            Target::Video(visibility) => (Some(self.app.ready_video(self.owner.id, visibility).await), None),
            Target::VideoWithDownload(visibility, downloadable) => {
                (Some(self.app.video_with_download(self.owner.id, visibility, downloadable).await), None)
            }
            Target::VideoWithCaption(visibility) => {
                let video = self.app.ready_video(self.owner.id, visibility).await;
                sqlx::query(
                    "INSERT INTO captions (video_id, lang, label, source, vtt)
                     VALUES ($1, 'en', 'English', 'uploaded', 'WEBVTT\n\n1\n00:00:00.000 --> 00:00:01.000\nHi\n')",
                )
                .bind(video)
                .execute(self.app.db())
                .await
                .unwrap();
                (Some(video), None)
            }
            Target::VideoWithToken(visibility) => {
                let video = self.app.ready_video(self.owner.id, visibility).await;
                (Some(video), Some(self.playback_token(video).await))
            }
            Target::EncryptedVideo(visibility) => {
                (Some(self.app.encrypted_video(self.owner.id, visibility).await), None)
            }
            Target::EncryptedVideoWithToken(visibility) => {
                let video = self.app.encrypted_video(self.owner.id, visibility).await;
                (Some(video), Some(self.playback_token(video).await))
            }
        };
        let mut path = row.path.to_owned();
        if let Some(video) = video {
            path = path
                .replace("{id}", &video.to_string())
                .replace("{video_id}", &video.to_string())
                .replace("{lang}", "en")
                .replace("{rendition}", "480p")
                .replace("{file}", "seg_000.ts");
        }
        match token {
            Some(token) => self.app.url(&format!("{path}?token={token}")),
            None => self.app.url(&path),
        }
    }

    /// A new webhook endpoint of the owner's, subscribed to follows of them; its id.
    /// Written directly: the table makes more than an account may register.
    async fn webhook(&self) -> String {
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, owner_id, url, events, secret)
             VALUES ($1, $2, 'http://127.0.0.1:9/hook', '{follow.created}', 'whsec_table')",
        )
        .bind(id)
        .bind(self.owner.id)
        .execute(self.app.db())
        .await
        .unwrap();
        id.to_string()
    }

    async fn playback_token(&self, video: Uuid) -> String {
        let playback = self.app.get_json(&format!("/api/v1/videos/{video}/playback"), &self.owner.token).await;
        let url = playback["master_url"].as_str().unwrap();
        url.split_once("?token=").map(|(_, t)| t.to_owned()).unwrap_or_default()
    }

    async fn request(&self, row: &Row, who: Who) -> u16 {
        let url = self.url(row).await;
        let mut request = self.app.http.request(row.method.clone(), &url);
        if let Some(token) = self.token(who) {
            request = request.bearer_auth(token);
        }
        request = match row.body {
            Body::None => request,
            Body::Register => request.json(&json!({
                "email": format!("new-{}@example.org", Uuid::new_v4().simple()),
                "password": "a long enough password",
                "display_name": "New",
            })),
            Body::Login => request.json(&json!({ "email": self.other.email, "password": self.other.password })),
            Body::LinkToken => request.json(&json!({ "token": "made-up" })),
            Body::MailRequest => request.json(&json!({ "email": self.other.email })),
            Body::PasswordReset => {
                request.json(&json!({ "token": "made-up", "password": "a new long enough password" }))
            }
            Body::Profile => request.json(&json!({ "bio": "Films about trains." })),
            Body::Rename => request.json(&json!({ "title": "Renamed" })),
            // One buffered body (not a stream), so a rejection before the body is read
            // cannot cut the request off mid-write.
            Body::Upload => request.header("content-type", "multipart/form-data; boundary=b0undary").body(
                "--b0undary\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nTable upload\r\n\
                 --b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.mp4\"\r\n\r\n\0\0\0\x18ftypisom junk\r\n--b0undary--\r\n",
            ),
            Body::Tus => request.header("tus-resumable", "1.0.0"),
            Body::TusCreate => request
                .header("tus-resumable", "1.0.0")
                .header("upload-length", "1000")
                .header("upload-metadata", "title VGFibGU="),
            Body::TusChunk => request
                .header("tus-resumable", "1.0.0")
                .header("upload-offset", "0")
                .header("content-type", "application/offset+octet-stream")
                .body(crate::support::fake_video()[..200].to_vec()),
            Body::Presign => request.json(&json!({ "title": "Table", "size": 1000 })),
            Body::NewComment => request.json(&json!({ "body": "Nice" })),
            Body::CommentEdit => request.json(&json!({ "body": "Nicer" })),
            Body::Caption => request.header("content-type", "application/x-subrip").body("1\n00:00:00,000 --> 00:00:01,000\nHi\n"),
            Body::Progress => request.json(&json!({ "position_s": 1.0 })),
            Body::Heartbeat => {
                request.json(&json!({ "session": Uuid::new_v4(), "position_s": 1.0, "watched_s": 1.0 }))
            }
            Body::NewWebhook => {
                request.json(&json!({ "url": "http://127.0.0.1:9/table", "events": ["video.ready", "video.failed"] }))
            }
            Body::WebhookChange => request.json(&json!({ "events": ["video.deleted"], "enabled": false })),
            Body::MarkRead => request.json(&json!({})),
            Body::QuotaOverride => request.json(&json!({ "queued_videos": 50 })),
        };
        let response = request.send().await.unwrap();
        response.status().as_u16()
    }
}

/// Every file of frontend-dev/ the app is made of (its notes aside), as the URL path it
/// is served at: open to everyone.
fn web_app_files() -> Vec<&'static str> {
    fn walk(dir: &std::path::Path, root: &std::path::Path, out: &mut Vec<&'static str>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.file_name().is_some_and(|name| name != "README.md") {
                let relative = path.strip_prefix(root).unwrap().to_string_lossy().replace("index.html", "");
                out.push(String::leak(format!("/{relative}")));
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("frontend-dev");
    let mut files = Vec::new();
    walk(&root, &root, &mut files);
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_every_caller_as_the_table_says() {
    // Webhooks may go to 127.0.0.1 here: no public name resolves on a test machine.
    let app = TestApp::spawn_with(&[("STREAMBOX_WEBHOOK_ALLOW_PRIVATE", "true")]).await;
    let world = World {
        other: app.user("creator").await,
        viewer: app.user("viewer").await,
        owner: app.user("creator").await,
        admin: app.user("admin").await,
        app,
    };

    let mut failures = Vec::new();
    for row in table() {
        for (who, expected) in CALLERS.iter().zip(row.expect) {
            let got = world.request(&row, *who).await;
            if got != expected {
                failures.push(format!(
                    "{} {} {:?} as {who:?}: expected {expected}, got {got}",
                    row.method, row.path, row.target
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} unexpected statuses:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn the_table_covers_exactly_the_routes_the_router_serves() {
    let served: BTreeSet<(String, String)> =
        server::routes(Mode::All).table().iter().map(|r| (r.method.to_string(), r.path.to_string())).collect();
    let tabled: BTreeSet<(String, String)> =
        table().iter().map(|r| (r.method.to_string(), r.path.to_string())).collect();
    let missing: Vec<_> = served.difference(&tabled).collect();
    let stale: Vec<_> = tabled.difference(&served).collect();
    assert!(missing.is_empty(), "routes without an authorization row: {missing:?}");
    assert!(stale.is_empty(), "rows for routes that do not exist: {stale:?}");
}

/// Where signing in is optional, a session cookie counts like a bearer token, and an
/// Authorization header that is not a valid bearer token is refused, never taken for
/// no sign-in at all.
#[tokio::test]
async fn optional_sign_in_takes_the_session_cookie_and_refuses_a_malformed_authorization() {
    let app = TestApp::spawn().await;
    let owner = app.user("creator").await;
    let video = app.ready_video(owner.id, "private").await;
    let url = app.url(&format!("/api/v1/videos/{video}"));

    let anonymous = app.http.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 404, "a private video is hidden from the anonymous");
    let by_cookie = app.http.get(&url).header("cookie", format!("sb_access={}", owner.token)).send().await.unwrap();
    assert_eq!(by_cookie.status(), 200, "the owner's session cookie shows it");
    let malformed = app.http.get(&url).header("authorization", "Basic dXNlcjpwYXNz").send().await.unwrap();
    assert_eq!(malformed.status(), 401, "a header that is not a bearer token is refused");
}
