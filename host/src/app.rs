//! Wiring: opens the store, starts the WhatsApp session, the sender and the HTTP server, and
//! stops them in order. It builds the [`Gateway`] handle every handler receives; nothing below
//! imports this module.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::accept::Acceptor;
use crate::auth::{self, ApiKey};
use crate::clock::Clock;
use crate::config::{Backend, Config};
use crate::events::{Events, GatewayEvent};
use crate::gateway::{Gateway, Parts};
use crate::inbox::GatewayInbox;
use crate::limits::RateLimits;
use crate::plugins::{Deliveries, Plugins};
use crate::queue::{self, Lifecycle, SenderDeps};
use crate::send::Validator;
use crate::store::{Role, Store};
use crate::supervise::{Health, Supervisor};
use crate::webhooks::Webhooks;
use crate::whatsapp::simulator::Simulator;
use crate::whatsapp::web::Web;
use crate::whatsapp::{NumberVerifier, Session, SessionState};

/// How the gateway was started, besides its configuration.
#[derive(Debug, Default)]
pub struct StartOptions {
    /// `WAPI_ADMIN_KEY`: make sure this admin key exists.
    pub admin_key: Option<ApiKey>,
    /// How webhook receivers' names are resolved: the system's resolver unless a test says.
    pub webhook_resolver: crate::webhooks::Resolver,
}

/// A started gateway: its address, its handle, and what to stop.
pub struct Running {
    pub app: Gateway,
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    parts: Supervisor,
}

impl Running {
    /// Stops accepting, lets answers in flight and the current send finish, then closes.
    pub async fn stop(self) {
        tracing::info!("shutting down");
        self.shutdown.cancel();
        if tokio::time::timeout(Duration::from_secs(15), self.parts.join())
            .await
            .is_err()
        {
            tracing::warn!("some tasks did not stop within 15s");
        }
        self.app.session().shutdown().await;
    }
}

/// Starts every part of the gateway and binds the listener. Every long-lived task runs under
/// the supervisor: the ones whose state is in the database (sender, webhooks worker, events hook)
/// or that hold none (session watcher, housekeeping, plugins watcher) are restarted when they
/// end unexpectedly; the HTTP server, which owns the listener and its connections, is not.
pub async fn start(config: Config, clock: Clock, options: StartOptions) -> anyhow::Result<Running> {
    let health = Health::default();
    let store = Store::open_watched(&config.storage.path, &health)?;
    std::fs::create_dir_all(&config.storage.media_dir)
        .with_context(|| format!("creating the media folder {}", config.storage.media_dir.display()))?;
    let events = Events::default();
    let lifecycle = Lifecycle::new(store.clone(), events.clone(), clock, &config.antiban);
    let interrupted = lifecycle.recover_interrupted().await?;
    if !interrupted.is_empty() {
        tracing::warn!(ids = ?interrupted, "messages were being sent when the gateway stopped; marked {}",
            if config.antiban.resend_interrupted { "queued again" } else { "failed: interrupted" });
    }
    bootstrap_admin(&store, &config, &clock, options.admin_key).await?;
    // Before the sender starts: every event from here on is handed to the events hook.
    crate::plugins::place_cursors(&store)
        .await
        .context("placing the events hook's cursors")?;

    let (session, simulator): (Session, Option<Arc<Simulator>>) = match &config.backend {
        Backend::Simulator(sim) => {
            let simulator = Arc::new(Simulator::start(sim.clone(), clock).context("starting the simulator")?);
            (simulator.clone(), Some(simulator))
        }
        Backend::Web => {
            let inbox = Arc::new(GatewayInbox {
                store: store.clone(),
                events: events.clone(),
                clock,
            });
            (
                Arc::new(Web::start(config.storage.whatsapp_store.clone(), clock, inbox)),
                None,
            )
        }
    };
    let verifier =
        Arc::new(NumberVerifier::new(session.clone(), config.antiban.verify_cache).remembering(store.clone(), clock));
    let shutdown = CancellationToken::new();
    let mut parts = Supervisor::new(health.clone(), shutdown.clone());
    let (sender, start_sender) = queue::sender_task(
        SenderDeps {
            store: store.clone(),
            lifecycle: lifecycle.clone(),
            session: session.clone(),
            verifier: verifier.clone(),
            antiban: config.antiban.clone(),
            clock,
        },
        shutdown.clone(),
    );
    parts.spawn_restarting("sender", start_sender);
    let listener = TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("server.listen: cannot listen on {}", config.server.listen))?;
    let addr = listener.local_addr()?;
    let tls = config.server.tls.as_ref().map(crate::http::tls_acceptor).transpose()?;
    // Its own task with its own connections: a slow receiver never slows the sender.
    let (webhooks, start_webhooks) = Webhooks::start(
        store.clone(),
        clock,
        config.webhooks.clone(),
        &config.plugins,
        options.webhook_resolver.clone(),
        shutdown.clone(),
    );
    parts.spawn_restarting("webhooks", start_webhooks);
    // Loaded before the first request is served: a filter must never be missing for a moment.
    let plugins = Plugins::start(&config.plugins, store.clone(), clock, Arc::new(webhooks.clone())).await?;
    let accept = Acceptor {
        plugins: plugins.clone(),
        validator: Validator::new(config.limits.max_text),
        session: session.clone(),
        verifier: verifier.clone(),
        lifecycle: lifecycle.clone(),
        clock,
        verify_numbers: config.antiban.verify_numbers,
    };
    let app = Gateway::new(Parts {
        accept,
        limits: RateLimits::new(&config.limits),
        config,
        clock,
        store,
        session,
        simulator,
        verifier,
        events,
        lifecycle,
        sender,
        webhooks,
        plugins,
        metrics: metrics_handle(),
        health,
        shutdown: shutdown.clone(),
    });
    let routes = crate::api::routes(&app).merge(crate::dashboard::routes());
    let router = crate::http::router(routes, app.clone());
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(%addr, backend = app.backend_name(), "listening on {scheme}://{addr}");
    let watch_plugins = app
        .plugins()
        .watcher(shutdown.clone())
        .context("plugins.dir: cannot watch the folder")?;
    parts.spawn_restarting("plugins-watch", watch_plugins);
    parts.spawn_restarting(
        "events-hook",
        crate::plugins::event_hook(
            app.plugins().clone(),
            app.events(),
            app.store().clone(),
            clock,
            shutdown.clone(),
        ),
    );
    parts.spawn_once(
        "http",
        crate::http::serve(
            listener,
            router,
            tls,
            crate::http::Transport::from(&app.config().server),
            shutdown.clone(),
        ),
    );
    let (session_app, session_shutdown) = (app.clone(), shutdown.clone());
    parts.spawn_restarting("session-watch", move || {
        watch_session(session_app.clone(), session_shutdown.clone())
    });
    let (housekeeping_app, housekeeping_shutdown) = (app.clone(), shutdown.clone());
    parts.spawn_restarting("housekeeping", move || {
        housekeeping(housekeeping_app.clone(), housekeeping_shutdown.clone())
    });
    Ok(Running {
        app,
        addr,
        shutdown,
        parts,
    })
}

/// Plugins' `deliver-webhook` goes to the host's persisted delivery queue.
#[async_trait::async_trait]
impl Deliveries for Webhooks {
    async fn deliver(&self, plugin: &str, url: &str, payload: &str, origin: Option<String>) -> Result<String, String> {
        Webhooks::deliver(self, plugin, url, payload, origin).await
    }
}

/// Without `WAPI_ADMIN_KEY`, the first start on an empty database creates one admin key, prints
/// it once and writes it to `admin-key.txt` beside the database (mode 0600).
async fn bootstrap_admin(store: &Store, config: &Config, clock: &Clock, key: Option<ApiKey>) -> anyhow::Result<()> {
    if let Some(key) = key {
        return Ok(auth::ensure_admin_key(store, &key, clock.now_ms()).await?);
    }
    if store.key_count().await? > 0 {
        return Ok(());
    }
    let (key, _) = auth::create_key(store, "admin (first start)", Role::Admin, clock.now_ms()).await?;
    let path = config
        .storage
        .path
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join("admin-key.txt");
    write_secret_file(&path, &format!("{}\n", key.expose()))?;
    // Shown only to a person at a terminal: piped output lands in journald and log files.
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        println!(
            "\n  First start: created an admin API key. It is shown once; a copy is in {}\n\n    {}\n",
            path.display(),
            key.expose()
        );
    } else {
        println!(
            "First start: created an admin API key; it is in {} (mode 0600)",
            path.display()
        );
    }
    Ok(())
}

fn write_secret_file(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

/// Turns session changes into events and log lines.
async fn watch_session(app: Gateway, shutdown: CancellationToken) {
    let mut status = app.session().status();
    let mut shown: Option<(SessionState, Option<String>)> = None;
    let mut drawn: Option<String> = None;
    loop {
        let current = status.borrow_and_update().clone();
        let entering = shown.as_ref().is_none_or(|(state, _)| *state != current.state);
        if current.state == SessionState::WaitingForQr {
            // Codes pushed by the backend are drawn as they rotate; otherwise ask once.
            let code = match (&current.qr, entering) {
                (Some(code), _) => Some(code.clone()),
                (None, true) => app.session().qr_code().await.ok().flatten(),
                (None, false) => None,
            };
            if let Some(code) = code.filter(|c| drawn.as_ref() != Some(c)) {
                show_qr_in_terminal(&code);
                drawn = Some(code);
            }
        }
        let now_shown = (current.state, current.last_error.clone());
        if shown.as_ref() != Some(&now_shown) {
            tracing::info!(
                state = current.state.as_str(),
                last_error = current.last_error.as_deref().unwrap_or(""),
                "whatsapp session"
            );
            app.events().publish(GatewayEvent::SessionChanged {
                state: current.state,
                last_error: current.last_error,
            });
            shown = Some(now_shown);
        }
        tokio::select! {
            changed = status.changed() => if changed.is_err() { return },
            _ = shutdown.cancelled() => return,
        }
    }
}

/// When stdout is a terminal, draws the linking code there too.
fn show_qr_in_terminal(code: &str) {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return;
    }
    if let Some(art) = crate::api::qr_terminal(code) {
        println!("\n{art}\n  Scan with WhatsApp → Linked devices (or open the dashboard; GET /api/session/qr)\n");
    }
}

/// Now and then: forget idle rate-limit state and expired idempotency keys.
async fn housekeeping(app: Gateway, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(300));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        app.limits().forget_idle();
        match app.store().purge_idempotency(app.clock().now_ms()).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(n, "expired idempotency keys removed"),
            Err(e) => tracing::warn!(error = %e, "could not purge idempotency keys"),
        }
    }
}

/// How often the recorder folds recorded histogram samples into its summaries.
const METRICS_UPKEEP: std::time::Duration = std::time::Duration::from_secs(5);

/// The process-wide Prometheus recorder (installed once, shared by every gateway in a process), with
/// its upkeep thread: a histogram keeps every recorded sample until upkeep or a scrape folds them
/// in, so a gateway nobody scrapes would otherwise grow by 8 bytes a request, forever.
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .install_recorder()
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder().handle());
            let upkeep = handle.clone();
            if let Err(e) = std::thread::Builder::new()
                .name("wapi-metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(METRICS_UPKEEP);
                        upkeep.run_upkeep();
                    }
                })
            {
                tracing::warn!(error = %e, "could not start the metrics upkeep thread");
            }
            handle
        })
        .clone()
}
