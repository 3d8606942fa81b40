//! The baseline: a bare hyper 1 + hyper-util "hello" server answering `POST /` with a small JSON body.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::thread::JoinHandle;

use anyhow::{Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const BODY: &str = r#"{"success":true,"data":{"id":1,"status":"queued"},"error":"","code":""}"#;

/// A running hello server on its own two-worker tokio runtime; stops when dropped.
pub struct Hello {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Starts the hello server on 127.0.0.1 at a free port.
pub fn start() -> Result<Hello> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("building the hello runtime")?;
    let listener = runtime
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .context("binding the hello server")?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel();
    let thread = std::thread::spawn(move || runtime.block_on(serve(listener, stopped)));
    Ok(Hello {
        addr,
        stop: Some(stop),
        thread: Some(thread),
    })
}

impl Drop for Hello {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(listener: TcpListener, mut stopped: oneshot::Receiver<()>) {
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(hello);
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}

async fn hello(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let _ = body.collect().await;
    let (status, body) = match (parts.method, parts.uri.path()) {
        (Method::POST, "/") => (StatusCode::OK, BODY),
        _ => (StatusCode::NOT_FOUND, ""),
    };
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().expect("static header"));
    Ok(response)
}
