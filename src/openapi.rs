//! The OpenAPI 3.1 document of the whole HTTP API, generated from the route table
//! every service is built from (so a route cannot exist undocumented), and a page
//! to browse it. The server hands the table in; this module knows nothing of how the
//! services are put together.

use std::sync::Arc;

use axum::Extension;
use axum::http::header;
use axum::response::IntoResponse;
use schemars::generate::SchemaSettings;
use schemars::{Schema, SchemaGenerator, json_schema};
use serde_json::{Map, Value, json};
use streambox_db::events::{self, Envelope};
use streambox_events::signature;
use streambox_http::error::ErrorBody;
use streambox_http::error_codes as codes;
use streambox_http::routes::{Access, Content, Doc, ErrorReply, RequestBody, RouteDoc, Routes, SchemaOf, schema_of};

pub fn routes() -> Routes {
    Routes::new()
        .get("/api/v1/openapi.json", serve_document)
        .doc(Doc::new("This document: the HTTP API as OpenAPI 3.1").reply(
            200,
            "The document",
            Content::Json(document_schema),
        ))
        .get("/api/v1/docs", || page("text/html; charset=utf-8", include_str!("docs/index.html")))
        .doc(Doc::new("A page to browse the API documentation").reply(200, "The page", Content::Media(&["text/html"])))
        .get("/api/v1/docs.js", || page("text/javascript; charset=utf-8", include_str!("docs/docs.js")))
        .doc(Doc::new("The documentation page's script").reply(200, "The script", Content::Media(&["text/javascript"])))
        .get("/api/v1/docs.css", || page("text/css; charset=utf-8", include_str!("docs/docs.css")))
        .doc(Doc::new("The documentation page's style sheet").reply(
            200,
            "The style sheet",
            Content::Media(&["text/css"]),
        ))
}

fn document_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "object", "required": ["openapi", "info", "paths"], "description": "An OpenAPI 3.1 document" })
}

/// The document, serialized once; served by the routes above from a request extension.
#[derive(Clone)]
pub struct Document(Arc<[u8]>);

impl Document {
    /// The document of the routes in `table`.
    pub fn of(table: &[RouteDoc]) -> Self {
        Self(serde_json::to_vec(&build(table)).expect("a JSON value serializes").into())
    }
}

async fn serve_document(Extension(document): Extension<Document>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], document.0.to_vec())
}

/// A file of the documentation page (in `src/docs/`: no inline script or style, as the
/// page's Content-Security-Policy requires).
async fn page(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body)
}

fn build(table: &[RouteDoc]) -> Value {
    let mut schemas = Schemas::new();
    let mut paths = Map::new();
    for route in table {
        let item = paths.entry(route.path).or_insert_with(|| json!({}));
        item[route.method.as_str().to_lowercase()] = operation(route, &mut schemas);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "StreamBox",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Upload videos, follow their transcoding into an HLS ladder, and play, \
                discover and discuss them. Errors are JSON: a stable `code` and a human `message`.",
        },
        "paths": paths,
        "webhooks": webhooks(&mut schemas),
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" },
                "cookie": { "type": "apiKey", "in": "cookie", "name": "sb_access" },
            },
            "schemas": schemas.into_components(),
        },
    })
}

/// What StreamBox POSTs to webhook endpoints: one operation per event type, its body
/// the envelope with that type's `data`.
fn webhooks(schemas: &mut Schemas) -> Value {
    let envelope = schemas.response(schema_of::<Envelope>);
    let header = |name: &str, description: &str| json!({ "name": name, "in": "header", "required": true, "description": description, "schema": { "type": "string" } });
    let headers = [
        header(
            signature::HEADER,
            "`t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\" keyed with the endpoint's secret>`; after a \
             secret rotation a second `v1` signed with the previous secret follows for 24 hours. Accept any `v1` \
             that matches, and refuse a `t` more than 5 minutes from now (replays).",
        ),
        header("StreamBox-Event-Id", "The event's id: the same in every retry, to drop duplicates by"),
        header("StreamBox-Event-Type", "The event's type"),
        header("StreamBox-Delivery-Id", "This delivery (a redelivery has a new one)"),
        header("StreamBox-Delivery-Attempt", "This attempt's number, from 1"),
    ];
    let mut operations = Map::new();
    for kind in events::TYPES {
        let data = schemas.response(kind.data);
        let body = json!({ "allOf": [envelope, {
            "type": "object",
            "properties": { "type": { "const": kind.name }, "data": data },
        }] });
        operations.insert(
            kind.name.to_owned(),
            json!({ "post": {
                "operationId": format!("event_{}", kind.name.replace('.', "_")),
                "summary": kind.description,
                "tags": [if kind.admin_only { "operator events" } else { "events" }],
                "parameters": headers,
                "requestBody": { "required": true, "content": { "application/json": { "schema": body } } },
                "responses": {
                    "2XX": { "description": "Received. Any other answer, or none within 10 s, is retried with backoff" },
                },
            } }),
        );
    }
    Value::Object(operations)
}

/// The JSON Schemas of the Rust types routes read and answer, each once under
/// `#/components/schemas`. What a request must be is its type's deserializing
/// contract; what a response is, its serializing one.
struct Schemas {
    requests: SchemaGenerator,
    responses: SchemaGenerator,
}

impl Schemas {
    fn new() -> Self {
        let settings = |contract: fn(SchemaSettings) -> SchemaSettings| {
            contract(SchemaSettings::draft2020_12())
                .with(|s| {
                    s.definitions_path = "/components/schemas".into();
                    s.meta_schema = None;
                })
                .into_generator()
        };
        Self { requests: settings(SchemaSettings::for_deserialize), responses: settings(SchemaSettings::for_serialize) }
    }

    fn request(&mut self, schema: SchemaOf) -> Value {
        schema(&mut self.requests).to_value()
    }

    fn response(&mut self, schema: SchemaOf) -> Value {
        schema(&mut self.responses).to_value()
    }

    /// The query parameters a query type's properties make.
    fn query_parameters(&mut self, schema: SchemaOf) -> Vec<Value> {
        let reference = self.request(schema);
        let object = match reference["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/schemas/")) {
            Some(name) => self.requests.definitions()[name].clone(),
            None => reference,
        };
        let required: Vec<&str> =
            object["required"].as_array().map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        let Some(properties) = object["properties"].as_object() else { return Vec::new() };
        properties
            .iter()
            .map(|(name, property)| {
                let mut schema = property.clone();
                let description = schema.as_object_mut().and_then(|s| s.remove("description"));
                let mut parameter =
                    json!({ "name": name, "in": "query", "required": required.contains(&name.as_str()), "schema": schema });
                if let Some(description) = description {
                    parameter["description"] = description;
                }
                parameter
            })
            .collect()
    }

    fn into_components(mut self) -> Map<String, Value> {
        let mut components = self.responses.take_definitions(true);
        for (name, schema) in self.requests.take_definitions(true) {
            let same = components.get(&name).is_none_or(|answered| *answered == schema);
            assert!(same, "{name} has different request and response schemas; give one of them another name");
            components.insert(name, schema);
        }
        components
    }
}

fn operation(route: &RouteDoc, schemas: &mut Schemas) -> Value {
    let doc = &route.doc;
    let mut parameters: Vec<Value> = path_parameters(route.path)
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": path_schema(name) }))
        .collect();
    if let Some(query) = doc.query {
        parameters.extend(schemas.query_parameters(query));
    }
    let mut responses = Map::new();
    for reply in &doc.replies {
        let mut response = json!({ "description": reply.description });
        match reply.content {
            Content::None => {}
            Content::Json(schema) => {
                response["content"] = json!({ "application/json": { "schema": schemas.response(schema) } });
            }
            Content::Media(types) => {
                response["content"] = types.iter().map(|t| (t.to_string(), json!({}))).collect::<Map<_, _>>().into();
            }
            Content::EventStream(events) => {
                let events = schemas.response(events);
                response["content"] =
                    json!({ "text/event-stream": { "schema": { "type": "string" }, "x-events": events } });
            }
        }
        responses.insert(reply.status.to_string(), response);
    }
    let error_shape = schemas.response(schema_of::<ErrorBody<'static>>);
    for ErrorAnswer { status, codes, when } in errors(route) {
        // The shape of every error, narrowed to the codes this route answers with this status.
        let schema = json!({ "allOf": [error_shape, { "properties": { "code": { "enum": codes } } }] });
        let mut response = json!({ "description": when, "content": { "application/json": { "schema": schema } } });
        if status == 503 {
            response["headers"] = json!({ "Retry-After": {
                "description": "Seconds to wait before trying again", "schema": { "type": "integer" } } });
        }
        responses.insert(status.to_string(), response);
    }
    let mut operation = json!({
        "operationId": operation_id(route),
        "summary": doc.summary,
        "tags": [tag(route.path)],
        "parameters": parameters,
        "responses": responses,
    });
    let signed_in = json!([{ "bearer": [] }, { "cookie": [] }]);
    operation["security"] = match doc.access {
        Access::Anyone | Access::PlaybackToken => json!([]),
        Access::OptionalSignIn => json!([{}, { "bearer": [] }, { "cookie": [] }]),
        Access::SignedIn => signed_in,
        Access::Admin => {
            operation["description"] = json!("Administrators only.");
            signed_in
        }
    };
    let body = match doc.body {
        RequestBody::None => None,
        RequestBody::Json(schema) => Some((true, "application/json", schemas.request(schema))),
        RequestBody::OptionalJson(schema) => Some((false, "application/json", schemas.request(schema))),
        RequestBody::Multipart(schema) => Some((true, "multipart/form-data", schemas.request(schema))),
        RequestBody::Bytes => Some((true, "application/offset+octet-stream", json!({}))),
        RequestBody::Text(media_type) => Some((true, media_type, json!({ "type": "string" }))),
    };
    if let Some((required, content_type, schema)) = body {
        operation["requestBody"] = json!({ "required": required, "content": { content_type: { "schema": schema } } });
    }
    operation
}

/// One error status of a route: every code it may carry, and when it happens.
struct ErrorAnswer {
    status: u16,
    codes: Vec<&'static str>,
    when: String,
}

/// The errors a route can answer: its own, and those every route of its kind can (from
/// what it takes and who may call it), one entry per status.
fn errors(route: &RouteDoc) -> Vec<ErrorAnswer> {
    let doc = &route.doc;
    let has_path = path_parameters(route.path).next().is_some();
    let json_body = matches!(doc.body, RequestBody::Json(_) | RequestBody::OptionalJson(_));
    let has_body = !matches!(doc.body, RequestBody::None);
    let mut kind: Vec<ErrorReply> = Vec::new();
    let mut add = |status, codes, when| kind.push(ErrorReply { status, codes, when });
    if has_path || has_body || doc.query.is_some() {
        add(400, &[codes::BAD_REQUEST], "Malformed: a path, query or header value is not what it must be");
    }
    if has_path {
        add(400, &[codes::INVALID_PATH], "");
        add(404, &[codes::NOT_FOUND], "No such resource, or none the caller may see");
    }
    if doc.query.is_some() {
        add(400, &[codes::INVALID_QUERY], "");
        add(422, &[codes::INVALID_FIELD], "A query parameter is invalid (the message says which)");
    }
    if json_body {
        add(400, &[codes::INVALID_BODY], "");
        add(413, &[codes::INVALID_BODY], "");
        add(415, &[codes::INVALID_BODY], "");
        add(
            422,
            &[codes::INVALID_BODY, codes::INVALID_FIELD],
            "A field of the body is invalid (the message says which)",
        );
    }
    if has_body {
        add(408, &[codes::REQUEST_TIMEOUT], "The body took too long to arrive");
        add(413, &[codes::TOO_LARGE], "The body is larger than this route takes");
        add(415, &[codes::UNSUPPORTED_MEDIA_TYPE], "The body's Content-Type is not the one documented");
    }
    match doc.access {
        Access::Anyone => {}
        Access::OptionalSignIn => {
            add(401, &[codes::UNAUTHORIZED], "The access token given is invalid, expired or revoked")
        }
        Access::SignedIn | Access::Admin => {
            add(
                401,
                &[codes::UNAUTHORIZED],
                "Sign-in needed: the access token is missing, invalid, expired or revoked",
            );
        }
        Access::PlaybackToken => {}
    }
    match doc.access {
        Access::SignedIn => {
            add(403, &[codes::FORBIDDEN], "Not allowed for the caller's role or to anyone but the owner")
        }
        Access::Admin => add(403, &[codes::FORBIDDEN], "Administrators only"),
        Access::PlaybackToken => add(
            403,
            &[codes::PLAYBACK_TOKEN_REQUIRED, codes::INVALID_PLAYBACK_TOKEN],
            "The video is not public and the playback token is missing, invalid, expired, revoked or for another video",
        ),
        Access::Anyone | Access::OptionalSignIn => {}
    }
    add(429, &[codes::RATE_LIMITED], "Over a rate limit: wait the Retry-After seconds");
    add(414, &[codes::URI_TOO_LONG], "The URI is longer than 8 KiB");
    add(431, &[codes::HEADERS_TOO_LARGE], "More than 100 header fields, or over 32 KiB of them");
    add(500, &[codes::INTERNAL], "An unexpected server error; its cause is logged, never answered");
    add(
        503,
        &[codes::UNAVAILABLE, codes::DATABASE_UNAVAILABLE, codes::STORAGE_UNAVAILABLE],
        "A dependency (database, object storage, queue) is unavailable; try again after Retry-After",
    );
    // The route's own first: where it names a status of its kind too, its words win.
    let mut answers: Vec<ErrorAnswer> = Vec::new();
    for (own, reply) in doc.errors.iter().map(|e| (true, e)).chain(kind.iter().map(|e| (false, e))) {
        let i = match answers.iter().position(|a| a.status == reply.status) {
            Some(i) => i,
            None => {
                answers.push(ErrorAnswer { status: reply.status, codes: Vec::new(), when: String::new() });
                answers.len() - 1
            }
        };
        let answer = &mut answers[i];
        for code in reply.codes {
            if !answer.codes.contains(code) {
                answer.codes.push(code);
            }
        }
        if answer.when.is_empty() {
            answer.when = reply.when.to_owned();
        } else if own && !reply.when.is_empty() {
            answer.when = format!("{}; {}", answer.when, reply.when);
        }
    }
    answers.sort_by_key(|a| a.status);
    answers
}

/// Ids (`{id}`, `{video_id}`) are lowercase hyphenated UUIDs, the one spelling they have.
fn path_schema(name: &str) -> Value {
    match name {
        "id" | "video_id" => json!({ "type": "string", "format": "uuid" }),
        _ => json!({ "type": "string" }),
    }
}

fn path_parameters(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
}

/// `get_api_v1_videos_id` for GET /api/v1/videos/{id}.
fn operation_id(route: &RouteDoc) -> String {
    let path: String =
        route.path.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    let mut id = format!("{}_{}", route.method.as_str().to_lowercase(), path.trim_matches('_'));
    while id.contains("__") {
        id = id.replace("__", "_");
    }
    id
}

/// Grouping for the docs page: the resource after /api/v1/, or what the path serves.
fn tag(path: &str) -> &str {
    match path.strip_prefix("/api/v1/") {
        Some(rest) => match rest.split('/').next().unwrap_or(rest) {
            "me" | "users" | "creators" => "people",
            "feed" | "search" => "discovery",
            "openapi.json" | "docs" => "documentation",
            resource => resource,
        },
        None if path.starts_with("/hls/") => "media",
        None if matches!(path, "/healthz" | "/readyz") => "health",
        None => "web app",
    }
}
