//! `GET /metrics` (Prometheus text format) and the measuring of every HTTP request by
//! route template, method and status class. Queue, pool and Redis figures are read when
//! scraped; everything else is counted where it happens (`streambox_base::metrics`).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use streambox_db::jobs;

use crate::routes::{Content, Doc, Routes};
use crate::{AppState, health};

/// The exposition's media type, as Prometheus asks for it.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics`, for a service's router (or the metrics listener of its own).
pub fn routes() -> Routes {
    Routes::new().get("/metrics", metrics).doc(
        Doc::new("Prometheus metrics (404 when STREAMBOX_METRICS=false or served on STREAMBOX_METRICS_BIND)").reply(
            200,
            "The Prometheus text exposition",
            Content::Media(&["text/plain"]),
        ),
    )
}

async fn metrics(State(state): State<AppState>) -> Response {
    if state.config.metrics_bind.is_some() {
        return StatusCode::NOT_FOUND.into_response();
    }
    exposition(State(state)).await
}

/// The metrics listener's router (`STREAMBOX_METRICS_BIND`): `/metrics` and nothing else.
pub fn listener_router(state: AppState) -> axum::Router {
    axum::Router::new().route("/metrics", axum::routing::get(exposition)).with_state(state)
}

async fn exposition(State(state): State<AppState>) -> Response {
    if !state.metrics.enabled() {
        return StatusCode::NOT_FOUND.into_response();
    }
    refresh(&state).await;
    match state.metrics.render() {
        Some(text) => ([(header::CONTENT_TYPE, TEXT_FORMAT)], text).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The figures read at each scrape: jobs per state and the oldest wait, the database
/// pool, and the readiness checks (each dependency, and all of them). A figure that
/// cannot be read keeps its last value.
async fn refresh(state: &AppState) {
    let metrics = &state.metrics;
    match jobs::counts(&state.db).await {
        Ok(counts) => {
            for (job_state, count) in counts {
                metrics.gauge("streambox_jobs", &[("state", job_state.as_str())]).set(count as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: could not count jobs"),
    }
    match jobs::oldest_waiting_s(&state.db).await {
        Ok(age) => metrics.gauge("streambox_oldest_queued_job_age_seconds", &[]).set(age.unwrap_or(0.0)),
        Err(e) => tracing::warn!(error = %e, "metrics: could not read the oldest queued job"),
    }
    let idle = state.db.num_idle() as f64;
    metrics.gauge("streambox_db_connections", &[("state", "idle")]).set(idle);
    metrics.gauge("streambox_db_connections", &[("state", "in_use")]).set(f64::from(state.db.size()) - idle);
    let checks = health::checks(state).await;
    for (dependency, up) in &checks {
        metrics.gauge("streambox_dependency_up", &[("dependency", dependency)]).set(f64::from(u8::from(*up)));
    }
    let ready = checks.iter().all(|(_, up)| *up);
    metrics.gauge("streambox_ready", &[]).set(f64::from(u8::from(ready)));
}

/// Middleware: counts and times every request under its route's template (never its
/// path, which would make a series per video), its method and its status class.
pub async fn measure(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !state.metrics.enabled() {
        return next.run(request).await;
    }
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let route = route.as_deref().unwrap_or("unmatched");
    let class = match response.status().as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    let labels = [("route", route), ("method", method.as_str())];
    state.metrics.histogram("streambox_http_request_duration_seconds", &labels).record(started.elapsed());
    state.metrics.counter("streambox_http_requests_total", &[labels[0], labels[1], ("status", class)]).increment(1);
    response
}
