//! `GET /api/plugins` (admin): every plugin in the folder — version, hooks, file hash, state,
//! load error, calls, failures and call latency.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::gateway::Gateway;
use crate::http::{Admin, ApiError, Envelope, ErrorEnvelope, ok};
use crate::plugins::{self, PluginInfo};

/// A hook a plugin implements, in the order a message meets them.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Hook {
    Template,
    Filter,
    Events,
}

impl From<plugins::Hook> for Hook {
    fn from(hook: plugins::Hook) -> Self {
        match hook {
            plugins::Hook::Template => Self::Template,
            plugins::Hook::Filter => Self::Filter,
            plugins::Hook::Events => Self::Events,
        }
    }
}

/// A plugin as `GET /api/plugins` shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PluginView {
    /// The file's stem: `template.wasm` is plugin `template`, configured in `[plugins.template]`.
    pub name: String,
    pub file: String,
    /// `active` (serving), `failed` (no version serving: see `loadError`).
    pub state: &'static str,
    /// The serving version's own version string.
    pub version: Option<String>,
    pub hooks: Vec<Hook>,
    /// SHA-256 of the serving file.
    pub hash: Option<String>,
    /// The `wapi:plugin` interface version it was built for.
    pub interface: Option<String>,
    /// Why the newest file under this name did not load (the previous version, if any, still serves).
    pub load_error: Option<String>,
    /// Position in the call order (1 = first).
    pub order: Option<usize>,
    pub calls: u64,
    pub failures: u64,
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
}

impl From<PluginInfo> for PluginView {
    fn from(p: PluginInfo) -> Self {
        Self {
            name: p.name,
            file: p.file,
            state: p.state,
            version: p.version,
            hooks: p.hooks.into_iter().map(Hook::from).collect(),
            hash: p.hash,
            interface: p.interface,
            load_error: p.load_error,
            order: p.order,
            calls: p.calls,
            failures: p.failures,
            p50_us: p.p50_us,
            p99_us: p.p99_us,
        }
    }
}

/// The plugins, in call order, then those that failed to load.
#[utoipa::path(get, path = "/api/plugins", tag = "plugins", operation_id = "listPlugins",
    responses(
        (status = 200, description = "Plugins in call order", body = Envelope<Vec<PluginView>>),
        (status = 401, description = "Missing, invalid or revoked key", body = ErrorEnvelope),
        (status = 403, description = "Not an admin key", body = ErrorEnvelope),
        (status = 429, description = "Read budget spent", body = ErrorEnvelope),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list(State(app): State<Gateway>, _admin: Admin) -> Result<Response, ApiError> {
    let plugins: Vec<PluginView> = app.plugins().list().into_iter().map(PluginView::from).collect();
    Ok(ok(plugins).into_response())
}
