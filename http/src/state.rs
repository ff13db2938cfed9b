//! The state every HTTP handler shares: the core services and the keys that sign and
//! verify access tokens.

use std::ops::Deref;
use std::sync::Arc;

use streambox_core::{App, Core};

use crate::tokens::TokenKeys;

/// What every handler is given through axum's `State`: the core services (also reached
/// through `Deref` to [`App`]) and the token keys. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The services shared with the workers ([`App`]): configuration, database, storage,
    /// queue and worker status.
    pub core: Core,
    /// The keys that sign and verify access and playback tokens.
    pub tokens: Arc<TokenKeys>,
}

impl Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.core
    }
}
