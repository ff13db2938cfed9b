//! Routers built from a table of `(method, path)`, so the set of routes a service
//! exposes can be listed — the authorization test checks every one of them.

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{self, MethodRouter};
use schemars::{JsonSchema, Schema, SchemaGenerator};

use crate::state::AppState;

pub struct Routes {
    table: Vec<RouteDoc>,
    router: Router<AppState>,
}

/// One route as the API documentation describes it.
#[derive(Debug, Clone)]
pub struct RouteDoc {
    pub method: Method,
    pub path: &'static str,
    pub doc: Doc,
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Access {
    #[default]
    Anyone,
    /// Anyone; a signed-in caller may see more (their own private videos).
    OptionalSignIn,
    SignedIn,
    Admin,
    /// Anyone for public videos; others need the `?token=` from /playback.
    PlaybackToken,
}

/// Writes a Rust type's JSON Schema into the document being generated and answers
/// the reference to it: how a route names the types it reads and answers.
pub type SchemaOf = fn(&mut SchemaGenerator) -> Schema;

/// The [`SchemaOf`] a type `T` has, from its `JsonSchema` derive.
pub fn schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// What a route's request body is.
#[derive(Debug, Clone, Copy, Default)]
pub enum RequestBody {
    #[default]
    None,
    Json(SchemaOf),
    /// JSON the route can do without (it has another source, a cookie, say).
    OptionalJson(SchemaOf),
    /// `multipart/form-data` with the fields the schema names.
    Multipart(SchemaOf),
    /// Raw bytes (`application/offset+octet-stream`, tus).
    Bytes,
}

/// What a response carries.
#[derive(Debug, Clone, Copy)]
pub enum Content {
    None,
    Json(SchemaOf),
    /// Bytes of one of these media types (playlists, segments, images, files).
    Media(&'static [&'static str]),
}

/// One documented response of a route.
#[derive(Debug, Clone, Copy)]
pub struct Reply {
    pub status: u16,
    pub description: &'static str,
    pub content: Content,
}

/// A route's documentation: what it does, who may call it, what it takes and answers.
/// The errors every route of its kind can answer are added by the document generator;
/// `error` names the ones particular to this route.
#[derive(Debug, Clone, Default)]
pub struct Doc {
    pub summary: &'static str,
    pub access: Access,
    pub body: RequestBody,
    /// Query parameters: the properties of this type's (object) schema.
    pub query: Option<SchemaOf>,
    pub replies: Vec<Reply>,
    /// Error statuses of this route beyond those of its kind, with when they happen.
    pub errors: Vec<(u16, &'static str)>,
}

impl Doc {
    pub fn new(summary: &'static str) -> Self {
        Self { summary, ..Self::default() }
    }

    pub fn access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    pub fn signed_in(self) -> Self {
        self.access(Access::SignedIn)
    }

    pub fn body(mut self, body: RequestBody) -> Self {
        self.body = body;
        self
    }

    /// A JSON request body of type `T`.
    pub fn json<T: JsonSchema>(self) -> Self {
        self.body(RequestBody::Json(schema_of::<T>))
    }

    /// Query parameters: the fields of `T`.
    pub fn query<T: JsonSchema>(mut self) -> Self {
        self.query = Some(schema_of::<T>);
        self
    }

    pub fn reply(mut self, status: u16, description: &'static str, content: Content) -> Self {
        self.replies.push(Reply { status, description, content });
        self
    }

    /// 200 with a JSON body of type `T`.
    pub fn ok<T: JsonSchema>(self, description: &'static str) -> Self {
        self.reply(200, description, Content::Json(schema_of::<T>))
    }

    /// 201 with a JSON body of type `T`.
    pub fn created<T: JsonSchema>(self, description: &'static str) -> Self {
        self.reply(201, description, Content::Json(schema_of::<T>))
    }

    /// 204, no body.
    pub fn no_content(self, description: &'static str) -> Self {
        self.reply(204, description, Content::None)
    }

    /// An error status particular to this route.
    pub fn error(mut self, status: u16, when: &'static str) -> Self {
        self.errors.push((status, when));
        self
    }
}

impl Default for Routes {
    fn default() -> Self {
        Self::new()
    }
}

impl Routes {
    pub fn new() -> Self {
        Self { table: Vec::new(), router: Router::new() }
    }

    pub fn get<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add(Method::GET, path, routing::get(handler))
    }

    pub fn post<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add(Method::POST, path, routing::post(handler))
    }

    pub fn head<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add(Method::HEAD, path, routing::head(handler))
    }

    pub fn options<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add(Method::OPTIONS, path, routing::options(handler))
    }

    pub fn put<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add(Method::PUT, path, routing::put(handler))
    }

    pub fn patch<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add(Method::PATCH, path, routing::patch(handler))
    }

    pub fn delete<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add(Method::DELETE, path, routing::delete(handler))
    }

    /// Documents the route added last.
    pub fn doc(mut self, doc: Doc) -> Self {
        if let Some(last) = self.table.last_mut() {
            last.doc = doc;
        }
        self
    }

    fn add(mut self, method: Method, path: &'static str, handler: MethodRouter<AppState>) -> Self {
        self.table.push(RouteDoc { method, path, doc: Doc::default() });
        self.router = self.router.route(path, handler);
        self
    }

    pub fn merge(mut self, other: Routes) -> Self {
        self.table.extend(other.table);
        self.router = self.router.merge(other.router);
        self
    }

    /// Applies a layer to every route added so far.
    pub fn map_router(mut self, f: impl FnOnce(Router<AppState>) -> Router<AppState>) -> Self {
        self.router = f(self.router);
        self
    }

    pub fn table(&self) -> &[RouteDoc] {
        &self.table
    }

    pub fn into_router(self) -> Router<AppState> {
        self.router
    }
}
