//! `POST /api/simulator` (admin, simulator backend only): change the simulated session's state,
//! for tests and demos — link, disconnect (the queue pauses), log out (sends are refused).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::gateway::Gateway;
use crate::http::{Admin, ApiError, JsonBody, ok};
use crate::whatsapp::simulator::SimAction;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimRequest {
    pub action: Action,
}

/// What to do to the simulated session (see [`SimAction`]).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Link,
    Disconnect,
    Logout,
    DropBeforeSend,
    DropDuringUpload,
    DropAfterSend,
}

impl From<Action> for SimAction {
    fn from(action: Action) -> Self {
        match action {
            Action::Link => Self::Link,
            Action::Disconnect => Self::Disconnect,
            Action::Logout => Self::Logout,
            Action::DropBeforeSend => Self::DropBeforeSend,
            Action::DropDuringUpload => Self::DropDuringUpload,
            Action::DropAfterSend => Self::DropAfterSend,
        }
    }
}

pub async fn act(
    State(app): State<Gateway>,
    _admin: Admin,
    JsonBody(req): JsonBody<SimRequest>,
) -> Result<Response, ApiError> {
    let simulator = app
        .simulator()
        .ok_or_else(|| ApiError::NotFound("the simulator backend is not running".into()))?;
    simulator.act(req.action.into());
    Ok(ok(serde_json::json!({ "state": app.session_status().state.as_str() })).into_response())
}
