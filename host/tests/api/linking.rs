//! `/api/session/*`: the QR code as text, PNG and SVG while unlinked; pairing codes; logout
//! followed by a fresh code; admin only.

use reqwest::Method;
use serde_json::json;

use crate::support::Gateway;

#[tokio::test]
async fn an_unlinked_session_offers_its_qr_as_text_png_and_svg() {
    let gw = Gateway::start(&[("whatsapp.simulator.auto_link", "false")]).await;
    let qr = gw.admin(Method::GET, "/api/session/qr").send().await.expect(200);
    assert_eq!(qr.data()["state"], "waiting_for_qr");
    let code = qr.data()["code"].as_str().expect("a code while waiting").to_string();
    assert!(code.starts_with("wapi-simulator:"), "{code}");
    assert!(qr.data()["svg"].as_str().unwrap().contains("<svg"));
    let again = gw.admin(Method::GET, "/api/session/qr").send().await.expect(200);
    assert_eq!(again.data()["code"], code.as_str(), "stable until it rotates");

    let png = gw.admin(Method::GET, "/api/session/qr?format=png").raw().await;
    assert_eq!(png.status(), 200);
    assert_eq!(png.headers()["content-type"], "image/png");
    assert!(png.bytes().await.unwrap().starts_with(b"\x89PNG\r\n\x1a\n"));
    let svg = gw.admin(Method::GET, "/api/session/qr?format=svg").raw().await;
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    assert!(svg.text().await.unwrap().contains("</svg>"));

    gw.admin(Method::GET, "/api/session/qr?format=gif")
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    gw.admin(Method::GET, "/api/session/qr?size=9")
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    gw.stop().await;
}

#[tokio::test]
async fn a_linked_session_has_no_code_to_draw() {
    let gw = Gateway::start(&[]).await;
    let qr = gw.admin(Method::GET, "/api/session/qr").send().await.expect(200);
    assert_eq!(qr.data()["state"], "connected");
    assert!(qr.data()["code"].is_null());
    gw.admin(Method::GET, "/api/session/qr?format=png")
        .send()
        .await
        .expect_error(404, "NOT_FOUND");
    gw.stop().await;
}

#[tokio::test]
async fn pairing_codes_are_given_for_valid_numbers_while_unlinked() {
    let gw = Gateway::start(&[("whatsapp.simulator.auto_link", "false")]).await;
    let pair = |phone: &str| {
        gw.admin(Method::POST, "/api/session/pair")
            .json(&json!({ "phone": phone }))
    };
    let code = pair("923001234567").send().await.expect(200);
    let code = code.data()["code"].as_str().unwrap().to_string();
    assert!(code.len() == 9 && code.as_bytes()[4] == b'-', "{code}");
    assert_eq!(gw.status().await["connection"]["state"], "pairing");
    pair("+923001234567").send().await.expect_error(422, "VALIDATION_ERROR");
    assert_eq!(gw.simulate("link").await, "connected");
    pair("923001234567").send().await.expect_error(409, "CONFLICT");
    gw.stop().await;
}

#[tokio::test]
async fn logout_unlinks_and_a_fresh_code_follows() {
    let gw = Gateway::start(&[]).await;
    let out = gw.admin(Method::POST, "/api/session/logout").send().await.expect(200);
    assert_eq!(out.data()["state"], "waiting_for_qr");
    let qr = gw.admin(Method::GET, "/api/session/qr").send().await.expect(200);
    assert!(qr.data()["code"].as_str().is_some());
    gw.stop().await;
}

#[tokio::test]
async fn linking_is_for_admins_only() {
    let gw = Gateway::start(&[]).await;
    let user = gw.create_key("user").await;
    for (method, path) in [
        (Method::GET, "/api/session/qr"),
        (Method::POST, "/api/session/pair"),
        (Method::POST, "/api/session/logout"),
    ] {
        gw.call(method, path)
            .key(&user.secret)
            .json(&json!({"phone": "923001234567"}))
            .send()
            .await
            .expect_error(403, "ADMIN_REQUIRED");
    }
    assert_eq!(gw.status().await["connection"]["state"], "connected", "nothing changed");
    gw.stop().await;
}
