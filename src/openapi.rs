//! The OpenAPI 3.1 document of the whole HTTP API, generated from the route table
//! every service is built from (so a route cannot exist undocumented), and a page
//! to browse it.

use std::sync::OnceLock;

use axum::Json;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use serde_json::{Map, Value, json};
use streambox_common::routes::{Access, Doc, RequestBody, RouteDoc, Routes};

use crate::server::{self, Mode};

pub fn routes() -> Routes {
    Routes::new()
        .get("/api/v1/openapi.json", serve_document)
        .doc(Doc::new("This document: the HTTP API as OpenAPI 3.1"))
        .get("/api/v1/docs", serve_page)
        .doc(Doc::new("A page to browse the API documentation"))
}

async fn serve_document() -> Json<&'static Value> {
    Json(document())
}

async fn serve_page() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-cache")], Html(include_str!("../frontend-dev/docs.html")))
}

/// The document for everything a process running all services serves.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| build(server::routes(Mode::All).table()))
}

fn build(table: &[RouteDoc]) -> Value {
    let mut paths = Map::new();
    for route in table {
        let item = paths.entry(route.path).or_insert_with(|| json!({}));
        item[route.method.as_str().to_lowercase()] = operation(route);
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
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": { "type": "string", "description": "Stable, for programs" },
                        "message": { "type": "string", "description": "For people" },
                    },
                },
            },
        },
    })
}

fn operation(route: &RouteDoc) -> Value {
    let doc = &route.doc;
    let mut parameters: Vec<Value> = path_parameters(route.path)
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": path_schema(name) }))
        .collect();
    if doc.access == Access::PlaybackToken {
        parameters.push(json!({
            "name": "token", "in": "query", "required": false, "schema": { "type": "string" },
            "description": "The playback token from /api/v1/videos/{id}/playback; needed unless the video is public",
        }));
    }
    let error = json!({ "description": "The request could not be served", "content": {
        "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    let mut operation = json!({
        "operationId": operation_id(route),
        "summary": doc.summary,
        "tags": [tag(route.path)],
        "parameters": parameters,
        "responses": { "2XX": { "description": "Success" }, "4XX": error.clone(), "5XX": error },
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
    let content_type = match doc.body {
        RequestBody::None => None,
        RequestBody::Json => Some("application/json"),
        RequestBody::Multipart => Some("multipart/form-data"),
        RequestBody::Bytes => Some("application/offset+octet-stream"),
    };
    if let Some(content_type) = content_type {
        operation["requestBody"] = json!({ "required": true, "content": { content_type: {} } });
    }
    operation
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
