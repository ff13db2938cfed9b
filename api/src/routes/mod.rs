mod admin_jobs;
mod auth;
mod creators;
mod me;
mod videos;

use streambox_common::routes::Routes;

pub fn routes() -> Routes {
    Routes::new()
        .post("/api/v1/auth/register", auth::register)
        .post("/api/v1/auth/login", auth::login)
        .post("/api/v1/auth/refresh", auth::refresh)
        .post("/api/v1/auth/logout", auth::logout)
        .get("/api/v1/me", me::get)
        .patch("/api/v1/me", me::update)
        .get("/api/v1/creators/{id}", creators::get)
        .get("/api/v1/videos", videos::list)
        .get("/api/v1/videos/{id}", videos::get)
        .patch("/api/v1/videos/{id}", videos::update)
        .delete("/api/v1/videos/{id}", videos::delete)
        .get("/api/v1/videos/{id}/playback", videos::playback)
        .get("/api/v1/videos/{id}/original", videos::original)
        .get("/api/v1/admin/jobs", admin_jobs::list)
        .get("/api/v1/admin/jobs/{id}", admin_jobs::get)
        .post("/api/v1/admin/jobs/{id}/retry", admin_jobs::retry)
        .post("/api/v1/admin/jobs/retry-dead", admin_jobs::retry_dead)
        .post("/api/v1/admin/jobs/{id}/discard", admin_jobs::discard)
}
