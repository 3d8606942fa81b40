//! `server.tls_cert` / `server.tls_key`: the gateway speaks HTTPS itself.

use crate::{Gateway, Setup};

#[tokio::test]
async fn tls_serves_the_api_over_https_with_the_configured_certificate() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("self-signed certificate");
    let gw = Gateway::start(Setup::new().tls(&certified.cert.pem(), &certified.key_pair.serialize_pem())).await;
    assert!(gw.url("/").starts_with("https://localhost:"));
    assert!(gw.logs().contains("listening on https://"), "the log names the scheme");

    let status = gw.get("/api/status").send().await.expect(200);
    assert_eq!(status.data()["keyRole"], "admin");
    assert_eq!(status.data()["connection"]["state"], "connected");

    // Without the certificate as a root, a client refuses the connection.
    let untrusting = reqwest::Client::builder().use_rustls_tls().build().unwrap();
    let plain_url = gw.url("/healthz").replace("https://localhost", "https://127.0.0.1");
    assert!(
        untrusting.get(&plain_url).send().await.is_err(),
        "a self-signed certificate is not trusted by default"
    );
}
