//! Liveness (`/healthz`) and readiness (`/readyz`: Postgres, Redis and object storage
//! answer, and a process's transcode worker is consuming the queue).

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::routes::{Doc, Routes};
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .get("/healthz", healthz)
        .doc(Doc::new("Liveness"))
        .get("/readyz", readyz)
        .doc(Doc::new("Readiness: Postgres, Redis and object storage answer; the transcode worker consumes"))
}

/// Whether this process's transcode worker is consuming the queue. Unset in processes
/// that run none; the worker sets it as it starts, fails and recovers.
#[derive(Clone, Default)]
pub struct WorkerStatus(Arc<Mutex<Option<Result<(), String>>>>);

impl WorkerStatus {
    pub fn consuming(&self) {
        *self.0.lock().expect("worker status lock") = Some(Ok(()));
    }

    /// The worker stopped consuming for `reason` and will start again.
    pub fn failed(&self, reason: String) {
        *self.0.lock().expect("worker status lock") = Some(Err(reason));
    }

    fn get(&self) -> Option<Result<(), String>> {
        self.0.lock().expect("worker status lock").clone()
    }
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let (db, redis, storage) = tokio::join!(
        sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&state.db),
        state.queue.check(),
        state.storage.check(),
    );
    let mut checks = vec![("postgres", db.is_ok()), ("redis", redis.is_ok()), ("object_storage", storage.is_ok())];
    // The reason stays in the worker's log: readiness is public.
    if let Some(consuming) = state.worker.get() {
        checks.push(("transcode_worker", consuming.is_ok()));
    }
    for (name, ok) in &checks {
        if !ok {
            tracing::warn!(dependency = name, "readiness check failed");
        }
    }
    let ready = checks.iter().all(|(_, ok)| *ok);
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body: serde_json::Map<String, Value> =
        checks.iter().map(|(name, ok)| (name.to_string(), json!(if *ok { "ok" } else { "unavailable" }))).collect();
    (status, Json(json!({ "status": if ready { "ready" } else { "unavailable" }, "checks": body })))
}
