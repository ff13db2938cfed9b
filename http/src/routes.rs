//! Routers built from a table of `(method, path)`, so the set of routes a service
//! exposes can be listed — the authorization test checks every one of them.

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{self, MethodRouter};
use schemars::{JsonSchema, Schema, SchemaGenerator};

use crate::AppState;

/// A service's router and the table of its routes, built together so neither has a route
/// the other lacks. Add a route with a method builder, then describe it with [`Routes::doc`].
pub struct Routes {
    table: Vec<RouteDoc>,
    router: Router<AppState>,
}

/// One route as the API documentation describes it.
#[derive(Debug, Clone)]
pub struct RouteDoc {
    /// The HTTP method it answers.
    pub method: Method,
    /// The path in axum's syntax, `{name}` for a path parameter.
    pub path: &'static str,
    /// What the API document says about it.
    pub doc: Doc,
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Access {
    /// Anyone, signed in or not; the answer does not depend on the caller.
    #[default]
    Anyone,
    /// Anyone; a signed-in caller may see more (their own private videos).
    OptionalSignIn,
    /// A signed-in user ([`crate::auth::AuthUser`]); the route may still answer 403 to
    /// one who lacks the role or does not own the resource.
    SignedIn,
    /// Administrators only ([`crate::auth::AdminUser`]).
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
    /// No body.
    #[default]
    None,
    /// A JSON body of this schema, required.
    Json(SchemaOf),
    /// JSON the route can do without (it has another source, a cookie, say).
    OptionalJson(SchemaOf),
    /// `multipart/form-data` with the fields the schema names.
    Multipart(SchemaOf),
    /// Raw bytes (`application/offset+octet-stream`, tus).
    Bytes,
    /// A text file, sent as the body, of this media type.
    Text(&'static str),
}

/// What a response carries.
#[derive(Debug, Clone, Copy)]
pub enum Content {
    /// No body.
    None,
    /// A JSON body of this schema.
    Json(SchemaOf),
    /// Bytes of one of these media types (playlists, segments, images, files).
    Media(&'static [&'static str]),
    /// A `text/event-stream` whose events are this schema's (`event` names, `data`).
    EventStream(SchemaOf),
}

/// One documented response of a route.
#[derive(Debug, Clone, Copy)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// What the answer means, for the reader of the API document.
    pub description: &'static str,
    /// What its body carries.
    pub content: Content,
}

/// An error answer: its status, the `code`s it may carry, and when it happens.
#[derive(Debug, Clone, Copy)]
pub struct ErrorReply {
    /// The HTTP status.
    pub status: u16,
    /// Every `code` (from [`crate::error_codes`]) an answer with this status may carry.
    pub codes: &'static [&'static str],
    /// When it happens, for the reader of the API document.
    pub when: &'static str,
}

/// A route's documentation: what it does, who may call it, what it takes and answers.
/// The errors every route of its kind can answer are added by the document generator;
/// `error` names the ones particular to this route.
#[derive(Debug, Clone, Default)]
pub struct Doc {
    /// One line saying what the route does: the operation's summary in the document.
    pub summary: &'static str,
    /// Who may call it; it also decides which 401 and 403 answers the document adds.
    pub access: Access,
    /// The request body it takes.
    pub body: RequestBody,
    /// Query parameters: the properties of this type's (object) schema.
    pub query: Option<SchemaOf>,
    /// Its documented answers, added by [`Doc::reply`] and its shorthands.
    pub replies: Vec<Reply>,
    /// Errors of this route beyond those of its kind.
    pub errors: Vec<ErrorReply>,
}

impl Doc {
    /// A route's documentation with only its `summary`: open to anyone, no body, no
    /// answers yet; the builders below add the rest.
    pub fn new(summary: &'static str) -> Self {
        Self { summary, ..Self::default() }
    }

    /// Sets who may call the route.
    pub fn access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    /// Shorthand for `access(Access::SignedIn)`.
    pub fn signed_in(self) -> Self {
        self.access(Access::SignedIn)
    }

    /// Sets the request body the route takes.
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

    /// Adds an answer: its status, what it means, and what its body carries.
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

    /// An error particular to this route: its status, the codes it carries, and when.
    pub fn error(mut self, status: u16, codes: &'static [&'static str], when: &'static str) -> Self {
        self.errors.push(ErrorReply { status, codes, when });
        self
    }
}

impl Default for Routes {
    fn default() -> Self {
        Self::new()
    }
}

impl Routes {
    /// No routes yet.
    pub fn new() -> Self {
        Self { table: Vec::new(), router: Router::new() }
    }

    /// Adds `handler` for GET `path`; document it with [`Routes::doc`] next.
    pub fn get<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add(Method::GET, path, routing::get(handler))
    }

    /// Adds `handler` for POST `path`; document it with [`Routes::doc`] next.
    pub fn post<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add(Method::POST, path, routing::post(handler))
    }

    /// Adds `handler` for HEAD `path`; document it with [`Routes::doc`] next.
    pub fn head<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add(Method::HEAD, path, routing::head(handler))
    }

    /// Adds `handler` for OPTIONS `path`; document it with [`Routes::doc`] next.
    pub fn options<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add(Method::OPTIONS, path, routing::options(handler))
    }

    /// Adds `handler` for PUT `path`; document it with [`Routes::doc`] next.
    pub fn put<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add(Method::PUT, path, routing::put(handler))
    }

    /// Adds `handler` for PATCH `path`; document it with [`Routes::doc`] next.
    pub fn patch<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add(Method::PATCH, path, routing::patch(handler))
    }

    /// Adds `handler` for DELETE `path`; document it with [`Routes::doc`] next.
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

    /// Adds every route of `other`, to the table and the router both.
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

    /// Every route added so far, in order: what the API document and the authorization
    /// test are built from.
    pub fn table(&self) -> &[RouteDoc] {
        &self.table
    }

    /// The router serving every route, for the server to layer and serve.
    pub fn into_router(self) -> Router<AppState> {
        self.router
    }
}
