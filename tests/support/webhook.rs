//! A local webhook receiver: an HTTP server on `127.0.0.1:0` that answers 204 and hands every
//! request to the test.

use axum::http::{HeaderMap, StatusCode};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

/// Starts a receiver; returns its URL (`http://127.0.0.1:PORT/hook`) and every POST it gets, as
/// `(headers, body)`. A request is handed on before it is answered, so once the gateway has
/// recorded a delivery, the receiver already holds it.
pub async fn webhook_receiver() -> (String, UnboundedReceiver<(HeaderMap, String)>) {
    let (tx, rx) = unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((headers, body));
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let url = format!("http://{}/hook", listener.local_addr().expect("bound"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}
