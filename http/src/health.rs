//! Liveness (`/healthz`) and readiness (`/readyz`: Postgres, Redis and object storage
//! answer, and a process's transcode worker is consuming the queue).

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use crate::AppState;
use crate::routes::{Content, Doc, Routes, schema_of};

/// `GET /healthz` and `GET /readyz`, for every service's router.
pub fn routes() -> Routes {
    Routes::new()
        .get("/healthz", healthz)
        .doc(Doc::new("Liveness").ok::<Liveness>("The process serves"))
        .get("/readyz", readyz)
        .doc(
            Doc::new("Readiness: Postgres, Redis and object storage answer; the transcode worker consumes")
                .ok::<Readiness>("Every dependency answers")
                .reply(503, "A dependency does not answer", Content::Json(schema_of::<Readiness>)),
        )
}

/// The body of `/healthz`: `{"status": "ok"}` whenever the process answers at all.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Liveness {
    status: &'static str,
}

/// Whether this process can serve, and which dependency it waits for if not.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Readiness {
    status: ReadyState,
    /// Each dependency checked: `postgres`, `redis`, `object_storage`, and in processes
    /// that run one, `transcode_worker`.
    checks: BTreeMap<&'static str, CheckState>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
enum ReadyState {
    Ready,
    Unavailable,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
enum CheckState {
    Ok,
    Unavailable,
}

async fn healthz() -> Json<Liveness> {
    Json(Liveness { status: "ok" })
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let checks = checks(&state).await;
    // The reason stays in the worker's log: readiness is public.
    for (name, ok) in &checks {
        if !ok {
            tracing::warn!(dependency = name, "readiness check failed");
        }
    }
    let ready = checks.iter().all(|(_, ok)| *ok);
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let checks = checks
        .into_iter()
        .map(|(name, ok)| (name, if ok { CheckState::Ok } else { CheckState::Unavailable }))
        .collect();
    let readiness = Readiness { status: if ready { ReadyState::Ready } else { ReadyState::Unavailable }, checks };
    (status, Json(readiness))
}

/// How long one dependency may take to answer a readiness check.
const CHECK_WAIT: Duration = Duration::from_secs(2);

/// Each dependency the process needs, and whether it answered within [`CHECK_WAIT`]:
/// `postgres`, `redis`, `object_storage`, and in processes that run one, `transcode_worker`.
pub async fn checks(state: &AppState) -> Vec<(&'static str, bool)> {
    let answered = |outcome: Result<bool, tokio::time::error::Elapsed>| outcome.unwrap_or(false);
    let (db, redis, storage) = tokio::join!(
        tokio::time::timeout(CHECK_WAIT, async {
            sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&state.db).await.is_ok()
        }),
        tokio::time::timeout(CHECK_WAIT, async { state.queue.check().await.is_ok() }),
        tokio::time::timeout(CHECK_WAIT, async { state.storage.check().await.is_ok() }),
    );
    let mut checks =
        vec![("postgres", answered(db)), ("redis", answered(redis)), ("object_storage", answered(storage))];
    if let Some(consuming) = state.worker.get() {
        checks.push(("transcode_worker", consuming.is_ok()));
    }
    checks
}
