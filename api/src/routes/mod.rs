mod admin_jobs;
mod auth;
mod comments;
mod creators;
mod discovery;
mod follows;
mod history;
mod likes;
mod me;
mod pages;
mod videos;
mod views;

use streambox_common::routes::Routes;

pub fn routes() -> Routes {
    Routes::new()
        .post("/api/v1/auth/register", auth::register)
        .post("/api/v1/auth/login", auth::login)
        .post("/api/v1/auth/refresh", auth::refresh)
        .post("/api/v1/auth/logout", auth::logout)
        .get("/api/v1/me", me::get)
        .patch("/api/v1/me", me::update)
        .get("/api/v1/me/history", history::list)
        .delete("/api/v1/me/history", history::clear)
        .put("/api/v1/me/history/{id}", history::record)
        .delete("/api/v1/me/history/{id}", history::forget)
        .get("/api/v1/creators/{id}", creators::get)
        .get("/api/v1/creators/{id}/videos", discovery::by_creator)
        .put("/api/v1/creators/{id}/follow", follows::follow)
        .delete("/api/v1/creators/{id}/follow", follows::unfollow)
        .get("/api/v1/creators/{id}/followers", follows::followers)
        .get("/api/v1/users/{id}/following", follows::following)
        .get("/api/v1/feed/latest", discovery::latest)
        .get("/api/v1/feed/popular", discovery::popular)
        .get("/api/v1/feed/following", discovery::following)
        .get("/api/v1/search", discovery::search)
        .get("/api/v1/videos", videos::list)
        .get("/api/v1/videos/{id}", videos::get)
        .patch("/api/v1/videos/{id}", videos::update)
        .delete("/api/v1/videos/{id}", videos::delete)
        .get("/api/v1/videos/{id}/playback", videos::playback)
        .get("/api/v1/videos/{id}/original", videos::original)
        .put("/api/v1/videos/{id}/like", likes::like)
        .delete("/api/v1/videos/{id}/like", likes::unlike)
        .post("/api/v1/videos/{id}/views", views::record)
        .get("/api/v1/videos/{id}/comments", comments::list)
        .post("/api/v1/videos/{id}/comments", comments::create)
        .get("/api/v1/comments/{id}/replies", comments::replies)
        .patch("/api/v1/comments/{id}", comments::edit)
        .delete("/api/v1/comments/{id}", comments::delete)
        .get("/api/v1/admin/jobs", admin_jobs::list)
        .get("/api/v1/admin/jobs/{id}", admin_jobs::get)
        .post("/api/v1/admin/jobs/{id}/retry", admin_jobs::retry)
        .post("/api/v1/admin/jobs/retry-dead", admin_jobs::retry_dead)
        .post("/api/v1/admin/jobs/{id}/discard", admin_jobs::discard)
}
