//! Cross-origin access: closed unless `server.cors_origins` names the origin.

use reqwest::Method;

use crate::support::Gateway;

const ORIGIN: &str = "https://app.example.com";

#[tokio::test]
async fn without_configured_origins_browsers_get_no_cors_grant() {
    let gw = Gateway::start(&[]).await;
    let answer = gw
        .admin(Method::GET, "/api/status")
        .header("Origin", ORIGIN)
        .raw()
        .await;
    assert!(answer.headers().get("access-control-allow-origin").is_none());
    let preflight = gw
        .call(Method::OPTIONS, "/api/messages")
        .header("Origin", ORIGIN)
        .header("Access-Control-Request-Method", "POST")
        .raw()
        .await;
    assert!(preflight.headers().get("access-control-allow-origin").is_none());
    gw.stop().await;
}

#[tokio::test]
async fn a_configured_origin_is_granted_and_others_are_not() {
    let gw = Gateway::start(&[("server.cors_origins", "[\"https://app.example.com\"]")]).await;
    let preflight = gw
        .call(Method::OPTIONS, "/api/messages")
        .header("Origin", ORIGIN)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "x-api-key, content-type, idempotency-key",
        )
        .raw()
        .await;
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(preflight.headers()["access-control-allow-origin"], ORIGIN);
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("x-api-key") && allowed.contains("idempotency-key"),
        "{allowed}"
    );

    let answer = gw
        .admin(Method::GET, "/api/status")
        .header("Origin", ORIGIN)
        .raw()
        .await;
    assert_eq!(answer.headers()["access-control-allow-origin"], ORIGIN);
    let exposed = answer.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        exposed.contains("ratelimit") && exposed.contains("retry-after"),
        "{exposed}"
    );

    let other = gw
        .admin(Method::GET, "/api/status")
        .header("Origin", "https://evil.example")
        .raw()
        .await;
    assert!(other.headers().get("access-control-allow-origin").is_none());
    gw.stop().await;
}
