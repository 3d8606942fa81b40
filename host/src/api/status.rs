//! `GET /api/status`: the session, the queue, today's counts, the anti-ban settings, the
//! caller's role, the base URLs and budgets — everything the dashboard's cards and docs show.

use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::dto::{Role, SessionState};
use crate::gateway::Gateway;
use crate::http::{ApiError, Envelope, ErrorEnvelope, Reader, ok};

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusDto {
    pub connection: ConnectionDto,
    /// Messages queued or being sent.
    pub pending_messages: u64,
    /// Messages sent today (UTC).
    pub sent_today: u32,
    /// Messages accepted today (UTC); the daily cap counts these.
    pub accepted_today: u32,
    pub daily_limit: u32,
    /// Seconds until the daily cap resets (midnight UTC).
    pub daily_reset_in: u64,
    pub anti_ban: AntiBanDto,
    /// The role of the key that asked.
    pub key_role: Role,
    pub version: String,
    /// Where the API is reached (the dashboard shows these as base URLs).
    pub server: ServerDto,
    /// The request budgets and size caps.
    pub limits: LimitsDto,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerDto {
    /// `server.public_url`, the domain base URL (e.g. `https://wa.example.com`), when configured.
    pub public_url: Option<String>,
    /// `server.listen` as configured, e.g. `0.0.0.0:8080` (port 0: chosen at start).
    pub listen: String,
    /// Whether the server speaks HTTPS itself.
    pub tls: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LimitsDto {
    /// Sends, batches and number checks per key per window.
    pub sends_per_window: u32,
    /// Every other request per key per window.
    pub reads_per_window: u32,
    pub window_secs: u64,
    /// The media upload cap in bytes.
    pub max_upload_bytes: u64,
    /// Characters per text or caption.
    pub max_text: usize,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionDto {
    pub state: SessionState,
    pub since: String,
    pub last_error: Option<String>,
    /// The linked phone number, once known.
    pub number: Option<String>,
    /// `simulator` or `web`.
    pub backend: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AntiBanDto {
    /// The gap as people read it, e.g. `5–9s`.
    pub gap: String,
    pub min_gap_ms: u64,
    pub max_gap_ms: u64,
    pub typing: bool,
    pub typing_min_ms: u64,
    pub typing_max_ms: u64,
    pub cooldown_every: u32,
    pub cooldown_min_ms: u64,
    pub cooldown_max_ms: u64,
    pub verify_numbers: bool,
    pub sync_wait_ms: u64,
}

/// Session, queue and anti-ban state.
#[utoipa::path(get, path = "/api/status", tag = "status", operation_id = "getStatus",
    responses(
        (status = 200, description = "Current state", body = Envelope<StatusDto>),
        (status = 401, description = "Missing, invalid or revoked key", body = ErrorEnvelope),
        (status = 429, description = "Read budget spent", body = ErrorEnvelope),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn status(State(app): State<Gateway>, Reader(caller): Reader) -> Result<Response, ApiError> {
    let session = app.session_status();
    let clock = app.clock();
    let counts = app.store().daily_counts(clock.today().to_string()).await?;
    let a = &app.config().antiban;
    let (server, limits) = (&app.config().server, &app.config().limits);
    let ms = |d: Duration| d.as_millis() as u64;
    let typing = a.typing;
    Ok(ok(StatusDto {
        connection: ConnectionDto {
            state: session.state.into(),
            since: session.since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            last_error: session.last_error,
            number: session.number,
            backend: app.backend_name().into(),
        },
        pending_messages: app.store().pending(),
        sent_today: counts.sent,
        accepted_today: counts.accepted,
        daily_limit: a.daily_limit,
        daily_reset_in: clock.until_midnight().as_secs(),
        anti_ban: AntiBanDto {
            gap: gap_text(a.min_gap, a.max_gap),
            min_gap_ms: ms(a.min_gap),
            max_gap_ms: ms(a.max_gap),
            typing: typing.is_some(),
            typing_min_ms: typing.map_or(0, |t| ms(t.min)),
            typing_max_ms: typing.map_or(0, |t| ms(t.max)),
            cooldown_every: a.cooldown_every,
            cooldown_min_ms: ms(a.cooldown_min),
            cooldown_max_ms: ms(a.cooldown_max),
            verify_numbers: a.verify_numbers,
            sync_wait_ms: ms(a.sync_wait),
        },
        key_role: caller.role.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        server: ServerDto {
            public_url: server.public_url.clone(),
            listen: server.listen.to_string(),
            tls: server.tls.is_some(),
        },
        limits: LimitsDto {
            sends_per_window: limits.sends_per_window.get(),
            reads_per_window: limits.reads_per_window.get(),
            window_secs: limits.window.as_secs(),
            max_upload_bytes: limits.max_upload,
            max_text: limits.max_text,
        },
    })
    .into_response())
}

/// "5–9s", "750ms–1.5s", "5s".
pub fn gap_text(min: Duration, max: Duration) -> String {
    let whole_seconds = min.subsec_millis() == 0 && max.subsec_millis() == 0 && !min.is_zero();
    let show = |d: Duration| {
        if whole_seconds {
            d.as_secs().to_string()
        } else {
            format!("{}ms", d.as_millis())
        }
    };
    let unit = if whole_seconds { "s" } else { "" };
    if min == max {
        format!("{}{unit}", show(min))
    } else {
        format!("{}–{}{unit}", show(min), show(max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_read_like_the_seed_page() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        assert_eq!(gap_text(s(5), s(9)), "5–9s");
        assert_eq!(gap_text(s(5), s(5)), "5s");
        assert_eq!(gap_text(ms(20), ms(40)), "20ms–40ms");
        assert_eq!(gap_text(ms(0), ms(0)), "0ms");
    }
}
