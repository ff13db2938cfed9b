//! Webhook endpoints. Creators register where their own videos' events go; an
//! administrator may register an endpoint for every user's events and the operator
//! events (`scope: "all"`). Only an endpoint's owner (or an administrator) sees it, its
//! deliveries, or its secret — which is shown once, at creation or rotation.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use streambox_base::ids::{DeliveryId, WebhookId};
use streambox_core::webhook_targets::{self, TargetError};
use streambox_db::events;
use streambox_db::webhooks::{self, Delivery, Endpoint, EndpointChange, NewEndpoint};
use streambox_http::auth::AuthUser;
use streambox_http::error::{ApiJson, ApiPath};
use streambox_http::error_codes as codes;
use streambox_http::{ApiError, ApiResult, AppState};

/// Endpoints one account may have.
pub const MAX_ENDPOINTS: i64 = 25;
/// How long the previous secret still signs after a rotation.
const ROTATION_GRACE: Duration = Duration::from_secs(24 * 3600);
/// Deliveries listed per endpoint.
const RECENT_DELIVERIES: i64 = 100;

/// Whose events an endpoint receives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The owner's own videos, comments on them, follows of the owner, their uploads.
    #[default]
    Own,
    /// Every user's events and the operator events (administrators only).
    All,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where to POST deliveries: an http(s) URL of a public address, without credentials.
    url: String,
    /// The event types to receive (see the document's `webhooks`); at least one.
    events: Vec<String>,
    #[serde(default)]
    scope: Scope,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookChange {
    url: Option<String>,
    events: Option<Vec<String>>,
    /// Pause (false) or resume (true) deliveries; paused ones wait, none are lost.
    enabled: Option<bool>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct WebhookView {
    id: WebhookId,
    url: String,
    events: Vec<String>,
    scope: Scope,
    enabled: bool,
    /// Since when deliveries fail for good (a delivery gave up after its whole retry
    /// window); cleared by the next success.
    failing_since: Option<DateTime<Utc>>,
    /// After a rotation: until when the previous secret still signs, beside the new one.
    previous_secret_until: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Endpoint> for WebhookView {
    fn from(e: Endpoint) -> Self {
        Self {
            id: e.id,
            url: e.url,
            events: e.events,
            scope: if e.all_users { Scope::All } else { Scope::Own },
            enabled: e.enabled,
            failing_since: e.failing_since,
            previous_secret_until: e.previous_secret_until.filter(|until| *until > Utc::now()),
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    webhook: WebhookView,
    /// The signing secret, shown this once: keep it to verify `StreamBox-Signature`.
    secret: String,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct WebhookList {
    webhooks: Vec<WebhookView>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct RotatedSecret {
    /// The new signing secret, shown this once.
    secret: String,
    /// Until then deliveries carry a second `v1=` signature made with the old secret.
    previous_secret_until: DateTime<Utc>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct DeliveryList {
    /// The most recent deliveries, newest first.
    deliveries: Vec<Delivery>,
}

pub async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(new): ApiJson<NewWebhook>,
) -> ApiResult<(StatusCode, Json<CreatedWebhook>)> {
    if !user.role.can_upload() {
        return Err(ApiError::forbidden("webhooks are for creators' videos; this account cannot upload"));
    }
    if new.scope == Scope::All && !user.is_admin() {
        return Err(ApiError::forbidden("only administrators may receive every user's events"));
    }
    let events = event_types(&new.events, new.scope)?;
    let url = target(&state, &new.url).await?;
    if webhooks::count_of(&state.db, user.id).await? >= MAX_ENDPOINTS {
        return Err(ApiError::conflict(
            codes::TOO_MANY_WEBHOOKS,
            format!("an account may have {MAX_ENDPOINTS} webhook endpoints; delete one first"),
        ));
    }
    let secret = new_secret();
    let endpoint = webhooks::create(
        &state.db,
        NewEndpoint {
            owner_id: user.id,
            url: &url,
            events: &events,
            all_users: new.scope == Scope::All,
            secret: &secret,
        },
    )
    .await?;
    tracing::info!(webhook_id = %endpoint.id, owner = %user.id, "webhook endpoint registered");
    Ok((StatusCode::CREATED, Json(CreatedWebhook { webhook: endpoint.into(), secret })))
}

pub async fn list(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<WebhookList>> {
    let webhooks = webhooks::list_of(&state.db, user.id).await?;
    Ok(Json(WebhookList { webhooks: webhooks.into_iter().map(Into::into).collect() }))
}

pub async fn get(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<WebhookId>,
) -> ApiResult<Json<WebhookView>> {
    Ok(Json(owned(&state, id, user).await?.into()))
}

pub async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<WebhookId>,
    ApiJson(change): ApiJson<WebhookChange>,
) -> ApiResult<Json<WebhookView>> {
    let endpoint = owned(&state, id, user).await?;
    let scope = if endpoint.all_users { Scope::All } else { Scope::Own };
    let events = change.events.as_deref().map(|e| event_types(e, scope)).transpose()?;
    let url = match change.url.as_deref() {
        Some(url) => Some(target(&state, url).await?),
        None => None,
    };
    let change = EndpointChange { url, events, enabled: change.enabled };
    let endpoint = webhooks::update(&state.db, id, &change).await?.ok_or_else(|| ApiError::not_found("webhook"))?;
    Ok(Json(endpoint.into()))
}

pub async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<WebhookId>,
) -> ApiResult<StatusCode> {
    owned(&state, id, user).await?;
    webhooks::delete(&state.db, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn rotate_secret(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<WebhookId>,
) -> ApiResult<Json<RotatedSecret>> {
    owned(&state, id, user).await?;
    let secret = new_secret();
    let endpoint = webhooks::rotate_secret(&state.db, id, &secret, ROTATION_GRACE)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))?;
    let previous_secret_until = endpoint.previous_secret_until.unwrap_or_else(Utc::now);
    Ok(Json(RotatedSecret { secret, previous_secret_until }))
}

pub async fn deliveries(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<WebhookId>,
) -> ApiResult<Json<DeliveryList>> {
    owned(&state, id, user).await?;
    Ok(Json(DeliveryList { deliveries: webhooks::recent_deliveries(&state.db, id, RECENT_DELIVERIES).await? }))
}

pub async fn redeliver(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath((id, delivery)): ApiPath<(WebhookId, DeliveryId)>,
) -> ApiResult<(StatusCode, Json<Delivery>)> {
    owned(&state, id, user).await?;
    let delivery =
        webhooks::redeliver(&state.db, id, delivery).await?.ok_or_else(|| ApiError::not_found("delivery"))?;
    Ok((StatusCode::ACCEPTED, Json(delivery)))
}

/// The endpoint if `user` owns it or is an administrator; 404 otherwise, as if it did
/// not exist, so ids of others' endpoints reveal nothing.
async fn owned(state: &AppState, id: WebhookId, user: AuthUser) -> ApiResult<Endpoint> {
    webhooks::find(&state.db, id)
        .await?
        .filter(|endpoint| user.may_manage(endpoint.owner_id))
        .ok_or_else(|| ApiError::not_found("webhook"))
}

/// The subscribed types, each known and open to the scope, without repeats.
fn event_types(requested: &[String], scope: Scope) -> ApiResult<Vec<String>> {
    if requested.is_empty() {
        return Err(ApiError::invalid_field("events", "must name at least one event type"));
    }
    let mut types = BTreeSet::new();
    for name in requested {
        let Some(kind) = events::event_type(name) else {
            let known: Vec<&str> = events::TYPES.iter().map(|t| t.name).collect();
            return Err(ApiError::invalid_field(
                "events",
                &format!("{name:?} is not an event type; the types are {}", known.join(", ")),
            ));
        };
        if kind.admin_only && scope != Scope::All {
            return Err(ApiError::invalid_field(
                "events",
                &format!("{name} goes only to administrators' endpoints with scope \"all\""),
            ));
        }
        types.insert(kind.name.to_owned());
    }
    Ok(types.into_iter().collect())
}

/// The URL, checked in form and where it resolves to now (checked again at every delivery).
async fn target(state: &AppState, raw: &str) -> ApiResult<String> {
    let url = webhook_targets::parse(raw.trim()).map_err(|e| ApiError::invalid_field("url", &e.to_string()))?;
    match webhook_targets::check(&url, state.config.events.allow_private_targets).await {
        Ok(()) => Ok(url.to_string()),
        Err(e @ TargetError::Forbidden { .. }) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::WEBHOOK_TARGET_FORBIDDEN,
            format!("url: {e} (an operator may allow private targets with STREAMBOX_WEBHOOK_ALLOW_PRIVATE)"),
        )),
        Err(e) => Err(ApiError::invalid_field("url", &e.to_string())),
    }
}

/// 32 random bytes, hex, behind a prefix that tells what it is when found in a config file.
fn new_secret() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    format!("whsec_{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}
