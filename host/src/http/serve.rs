//! The accept loop: plain TCP or TLS (rustls), HTTP/1.1 and HTTP/2, and the transport's limits —
//! at most `server.max_connections` open at once; a new connection's TLS handshake and first
//! bytes, and every request's headers, within `server.header_timeout` (a client that trickles or
//! sends nothing is cut off; an HTTP/2 connection with no request for that long is closed, which
//! also ends one whose request headers never complete); a request body that stalls past
//! `server.body_timeout` is answered 408 — and graceful shutdown that lets answers in flight
//! finish.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::http::Request;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{ServerConfig, TlsFiles};

const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// What an HTTP/2 connection opens with; anything else is HTTP/1.
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The transport's limits, from `[server]`.
#[derive(Debug, Clone, Copy)]
pub struct Transport {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: usize,
}

impl From<&ServerConfig> for Transport {
    fn from(server: &ServerConfig) -> Self {
        Self {
            header_timeout: server.header_timeout,
            body_timeout: server.body_timeout,
            max_connections: server.max_connections,
        }
    }
}

/// Loads the certificate chain and key named by `server.tls_cert` / `server.tls_key`.
pub fn tls_acceptor(files: &TlsFiles) -> anyhow::Result<TlsAcceptor> {
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .with_context(|| format!("server.tls_cert: reading {}", files.cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| {
            format!(
                "server.tls_cert: {} is not a PEM certificate chain",
                files.cert.display()
            )
        })?;
    anyhow::ensure!(
        !certs.is_empty(),
        "server.tls_cert: no certificate in {}",
        files.cert.display()
    );
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .with_context(|| format!("server.tls_key: no PEM private key in {}", files.key.display()))?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("server.tls_cert / server.tls_key do not form a usable pair")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then drains open connections.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<TlsAcceptor>,
    transport: Transport,
    shutdown: CancellationToken,
) {
    let body_timeout = transport.body_timeout;
    let service = TowerToHyperService::new(
        tower::ServiceBuilder::new()
            .map_request(move |req: Request<Incoming>| guard_body(req, body_timeout))
            .service(router),
    );
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(transport.header_timeout);
    builder.http2().timer(TokioTimer::new());
    let connections = TaskTracker::new();
    let slots = Arc::new(Semaphore::new(transport.max_connections));
    let mut full_logged = false;
    loop {
        if slots.available_permits() == 0 && !full_logged {
            tracing::warn!(
                max = transport.max_connections,
                "server.max_connections reached; new connections wait"
            );
        }
        full_logged = slots.available_permits() == 0;
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            _ = shutdown.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let conn = Conn {
            service: service.clone(),
            builder: builder.clone(),
            shutdown: shutdown.clone(),
            peer,
            // The handshake and the first bytes share one deadline from the accept.
            deadline: Instant::now() + transport.header_timeout,
            idle: transport.header_timeout,
        };
        let tls = tls.clone();
        connections.spawn(async move {
            let _slot = permit;
            match tls {
                None => conn.run(stream).await,
                Some(acceptor) => match tokio::time::timeout_at(conn.deadline, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => conn.run(stream).await,
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                },
            }
        });
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(DRAIN_TIMEOUT, connections.wait()).await.is_err() {
        tracing::warn!("connections still open after {DRAIN_TIMEOUT:?}; closing them");
    }
}

/// One accepted connection, before hyper takes it.
struct Conn<S> {
    service: S,
    builder: auto::Builder<TokioExecutor>,
    shutdown: CancellationToken,
    peer: std::net::SocketAddr,
    deadline: Instant,
    /// An HTTP/2 connection without a request for this long is closed.
    idle: Duration,
}

impl<S> Conn<S>
where
    S: hyper::service::Service<Request<Incoming>, Response = axum::response::Response> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    /// Reads the first bytes before the deadline (hyper's own sniffing of HTTP/1 or HTTP/2 has
    /// none, so a client that sends nothing would keep its connection forever), then serves until
    /// the client leaves, the gateway stops (answers in flight finish), or an HTTP/2 connection
    /// stays without a request past the idle time (hyper's header deadline covers HTTP/1 only).
    async fn run<I>(self, mut stream: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let peer = self.peer;
        let prefix = match tokio::time::timeout_at(self.deadline, first_bytes(&mut stream)).await {
            Ok(Ok(prefix)) if !prefix.is_empty() => prefix,
            Ok(Ok(_)) => return,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "connection failed before a request");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "no request within server.header_timeout; closing");
                return;
            }
        };
        let h2 = prefix == H2_PREFACE;
        let io = TokioIo::new(Prefixed {
            prefix: Bytes::from(prefix),
            inner: stream,
        });
        let activity = Arc::new(Activity::new());
        let service = Counted {
            inner: self.service,
            activity: activity.clone(),
        };
        let connection = self.builder.serve_connection(io, service);
        tokio::pin!(connection);
        let (mut stopping, mut idle_closed) = (false, false);
        let mut hard_stop: Option<Pin<Box<Sleep>>> = None;
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                    return;
                }
                _ = self.shutdown.cancelled(), if !stopping => {
                    stopping = true;
                    connection.as_mut().graceful_shutdown();
                }
                _ = activity.idle_for(self.idle), if h2 && !idle_closed => {
                    tracing::debug!(%peer, "HTTP/2 connection without a request for server.header_timeout; closing");
                    idle_closed = true;
                    connection.as_mut().graceful_shutdown();
                    // Streams whose headers never complete keep a graceful close waiting.
                    hard_stop = Some(Box::pin(tokio::time::sleep(self.idle)));
                }
                _ = async { hard_stop.as_mut().expect("armed").await }, if hard_stop.is_some() => return,
            }
        }
    }
}

/// When a connection last had a request in flight (a request counts until its answer's body is
/// sent or dropped).
struct Activity {
    in_flight: AtomicUsize,
    since: Mutex<Instant>,
}

impl Activity {
    fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            since: Mutex::new(Instant::now()),
        }
    }

    /// Completes once the connection has had no request in flight for `limit`.
    async fn idle_for(&self, limit: Duration) {
        loop {
            let wait = match self.in_flight.load(Ordering::SeqCst) {
                0 => limit.saturating_sub(self.since.lock().expect("activity").elapsed()),
                _ => limit,
            };
            if wait.is_zero() && self.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            tokio::time::sleep(wait.max(Duration::from_millis(10))).await;
        }
    }
}

/// One request in flight on a connection.
struct Busy(Arc<Activity>);

impl Busy {
    fn enter(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::SeqCst);
        Self(activity)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        *self.0.since.lock().expect("activity") = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The router, counting the requests in flight on one connection.
#[derive(Clone)]
struct Counted<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> hyper::service::Service<Request<Incoming>> for Counted<S>
where
    S: hyper::service::Service<Request<Incoming>, Response = axum::response::Response>,
    S::Future: Send + 'static,
{
    type Response = axum::response::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let busy = Busy::enter(self.activity.clone());
        let answer = self.inner.call(req);
        Box::pin(async move {
            let response = answer.await?;
            Ok(response.map(|body| Body::new(Answering { body, _busy: busy })))
        })
    }
}

/// An answer's body, holding its request's place in flight until it is sent or dropped.
struct Answering {
    body: Body,
    _busy: Busy,
}

impl HttpBody for Answering {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Reads until the bytes can no longer be HTTP/2's preface, or are all of it (or the end).
async fn first_bytes<I: AsyncRead + Unpin>(stream: &mut I) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; H2_PREFACE.len()];
    let mut filled = 0;
    while filled < buf.len() {
        let n = stream.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
        if buf[..filled] != H2_PREFACE[..filled] {
            break;
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

/// A stream whose first bytes were already read: they are read again, then the rest.
struct Prefixed<I> {
    prefix: Bytes,
    inner: I,
}

impl<I: AsyncRead + Unpin> AsyncRead for Prefixed<I> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.prefix.is_empty() {
            return Pin::new(&mut self.inner).poll_read(cx, buf);
        }
        let n = self.prefix.len().min(buf.remaining());
        buf.put_slice(&self.prefix.split_to(n));
        Poll::Ready(Ok(()))
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Prefixed<I> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Set on a request whose body stalled past `server.body_timeout`; the edge answers it 408.
#[derive(Debug, Clone, Default)]
pub struct BodyStalled(Arc<AtomicBool>);

impl BodyStalled {
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

fn guard_body(req: Request<Incoming>, timeout: Duration) -> Request<Body> {
    let (mut parts, body) = req.into_parts();
    let stalled = BodyStalled::default();
    parts.extensions.insert(stalled.clone());
    let body = StallGuard {
        inner: body,
        timeout,
        quiet: None,
        stalled,
    };
    Request::from_parts(parts, Body::new(body))
}

/// A request body that fails once no bytes arrive for `timeout` while it is being read.
struct StallGuard {
    inner: Incoming,
    timeout: Duration,
    /// Runs from the first read and from every piece that arrives.
    quiet: Option<Pin<Box<Sleep>>>,
    stalled: BodyStalled,
}

impl HttpBody for StallGuard {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.quiet = None;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let timeout = this.timeout;
                let quiet = this.quiet.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                ready!(quiet.as_mut().poll(cx));
                this.stalled.0.store(true, Ordering::Relaxed);
                Poll::Ready(Some(Err(format!(
                    "the request body stalled: nothing arrived for {timeout:?} (server.body_timeout)"
                )
                .into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
