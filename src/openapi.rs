//! The OpenAPI 3.1 document of the whole HTTP API, generated from the route table
//! every service is built from (so a route cannot exist undocumented), and a page
//! to browse it. The server hands the table in; this module knows nothing of how the
//! services are put together.

use std::sync::Arc;

use axum::Extension;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use schemars::generate::SchemaSettings;
use schemars::{Schema, SchemaGenerator, json_schema};
use serde_json::{Map, Value, json};
use streambox_common::error::ErrorBody;
use streambox_common::routes::{Access, Content, Doc, RequestBody, RouteDoc, Routes, SchemaOf, schema_of};

pub fn routes() -> Routes {
    Routes::new()
        .get("/api/v1/openapi.json", serve_document)
        .doc(Doc::new("This document: the HTTP API as OpenAPI 3.1").reply(
            200,
            "The document",
            Content::Json(document_schema),
        ))
        .get("/api/v1/docs", serve_page)
        .doc(Doc::new("A page to browse the API documentation").reply(200, "The page", Content::Media(&["text/html"])))
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

async fn serve_page() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-cache")], Html(include_str!("../frontend-dev/docs.html")))
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
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" },
                "cookie": { "type": "apiKey", "in": "cookie", "name": "sb_access" },
            },
            "schemas": schemas.into_components(),
        },
    })
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
        }
        responses.insert(reply.status.to_string(), response);
    }
    let error_shape = schemas.response(schema_of::<ErrorBody<'static>>);
    for (status, when) in errors(route) {
        let mut response = json!({ "description": when, "content": {
            "application/json": { "schema": error_shape.clone() } } });
        if status == 503 {
            response["headers"] = json!({ "Retry-After": {
                "description": "Seconds to wait before trying again", "schema": { "type": "integer" } } });
        }
        responses.entry(status.to_string()).or_insert(response);
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
    };
    if let Some((required, content_type, schema)) = body {
        operation["requestBody"] = json!({ "required": required, "content": { content_type: { "schema": schema } } });
    }
    operation
}

/// The error statuses a route can answer: its own, and those every route of its kind
/// can (from what it takes and who may call it).
fn errors(route: &RouteDoc) -> Vec<(u16, &'static str)> {
    let doc = &route.doc;
    let has_path = path_parameters(route.path).next().is_some();
    let has_body = !matches!(doc.body, RequestBody::None);
    // The route's own first: where it names a status of its kind too, its words win.
    let mut errors = doc.errors.clone();
    if has_path || has_body || doc.query.is_some() {
        errors.push((400, "Malformed: a path, query or header value is not what it must be"));
    }
    match doc.access {
        Access::Anyone => {}
        Access::OptionalSignIn => errors.push((401, "The access token given is invalid, expired or revoked")),
        Access::SignedIn | Access::Admin => {
            errors.push((401, "Sign-in needed: the access token is missing, invalid, expired or revoked"));
        }
        Access::PlaybackToken => {}
    }
    match doc.access {
        Access::SignedIn => errors.push((403, "Not allowed for the caller's role or to anyone but the owner")),
        Access::Admin => errors.push((403, "Administrators only")),
        Access::PlaybackToken => {
            errors.push((403, "The playback token is invalid, expired, revoked or for another video"));
        }
        Access::Anyone | Access::OptionalSignIn => {}
    }
    if has_path {
        errors.push((404, "No such resource, or none the caller may see"));
    }
    if has_body {
        errors.push((413, "The body is larger than this route takes"));
        errors.push((415, "The body's Content-Type is not the one documented"));
    }
    if has_body || doc.query.is_some() {
        errors.push((
            422,
            "A field of the body or query, or a header describing the body, is invalid (the message says which)",
        ));
    }
    errors.push((414, "The URI is longer than 8 KiB"));
    errors.push((431, "More than 100 header fields, or over 32 KiB of them"));
    errors.push((500, "An unexpected server error; its cause is logged, never answered"));
    errors.push((503, "A dependency (database, object storage, queue) is unavailable; try again after Retry-After"));
    errors.sort_by_key(|(status, _)| *status);
    errors
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
