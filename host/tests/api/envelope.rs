//! Every kind of answer carries `{success, data, error, code}` and an `X-Request-Id`; bad bodies
//! are 400 or 422 naming each bad field, oversized bodies 413.

use reqwest::Method;
use serde_json::json;

use crate::support::{Gateway, ON_WHATSAPP};

const MAX_TEXT: usize = 50;

/// Small limits, so a text over `max_text` and a body over `max_body` are cheap to build.
async fn gateway() -> Gateway {
    Gateway::start(&[
        ("limits.max_text", &MAX_TEXT.to_string()),
        ("limits.max_body", "\"1KiB\""),
    ])
    .await
}

#[tokio::test]
async fn successes_carry_empty_error_and_code() {
    let gw = gateway().await;
    let status = gw.admin(Method::GET, "/api/status").send().await.expect(200);
    assert_eq!(status.data()["keyRole"], "admin");
    assert_eq!(status.body["error"], "");
    assert_eq!(status.body["code"], "");
    gw.call(Method::GET, "/healthz").send().await.expect(200);
    gw.stop().await;
}

#[tokio::test]
async fn unknown_routes_are_404_not_found() {
    let gw = gateway().await;
    for path in ["/api/nope", "/nope", "/api/messages/1/extra", "/api"] {
        gw.admin(Method::GET, path).send().await.expect_error(404, "NOT_FOUND");
        gw.call(Method::POST, path).send().await.expect_error(404, "NOT_FOUND");
    }
    gw.stop().await;
}

#[tokio::test]
async fn wrong_methods_are_405_with_allow() {
    let gw = gateway().await;
    for (method, path, allowed) in [
        (Method::PUT, "/api/status", &["GET"][..]),
        (Method::DELETE, "/api/messages", &["GET", "POST"]),
        (Method::PATCH, "/api/keys/abcdefgh", &["DELETE"]),
        (Method::GET, "/api/numbers/check", &["POST"]),
    ] {
        let answer = gw
            .admin(method, path)
            .send()
            .await
            .expect_error(405, "METHOD_NOT_ALLOWED");
        let allow = answer.header("allow");
        for m in allowed {
            assert!(
                allow.split(',').any(|a| a.trim() == *m),
                "{path}: Allow {allow:?} lacks {m}"
            );
        }
    }
    gw.stop().await;
}

#[tokio::test]
async fn unreadable_bodies_are_400() {
    let gw = gateway().await;
    let send = || gw.admin(Method::POST, "/api/messages");
    let valid = json!({"to": ON_WHATSAPP, "text": "hi"}).to_string();
    let wrong_type = send()
        .body("text/plain", valid.clone())
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(wrong_type.detail_fields(), ["Content-Type"]);
    let form = send()
        .body("application/x-www-form-urlencoded", "to=923001234567&text=hi")
        .send()
        .await;
    form.expect_error(400, "VALIDATION_ERROR");
    let none = gw
        .admin(Method::POST, "/api/messages")
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(none.detail_fields(), ["Content-Type"]);
    for body in [
        "{not json",
        "",
        "[1, 2]",
        "\"text\"",
        "{\"to\": \"923001234567\", \"text\": \"hi\"} trailing",
    ] {
        let answer = send()
            .body("application/json", body)
            .send()
            .await
            .expect_error(400, "VALIDATION_ERROR");
        assert!(!answer.detail_fields().is_empty(), "{body:?}: {}", answer.text);
    }
    gw.stop().await;
}

#[tokio::test]
async fn wrongly_typed_fields_are_400_naming_the_field() {
    let gw = gateway().await;
    for (path, body, field) in [
        ("/api/messages", json!({"to": 923001234567u64, "text": "hi"}), "to"),
        ("/api/messages", json!({"to": ON_WHATSAPP, "text": ["hi"]}), "text"),
        (
            "/api/messages",
            json!({"to": ON_WHATSAPP, "text": "hi", "vars": {"name": 1}}),
            "vars.name",
        ),
        ("/api/numbers/check", json!({"numbers": ON_WHATSAPP}), "numbers"),
        ("/api/keys", json!({"name": "x", "role": "root"}), "role"),
    ] {
        let answer = gw
            .admin(Method::POST, path)
            .json(&body)
            .send()
            .await
            .expect_error(400, "VALIDATION_ERROR");
        assert_eq!(answer.detail_fields()[0], field, "{path} {body}: {}", answer.text);
    }
    gw.stop().await;
}

#[tokio::test]
async fn invalid_fields_are_422_naming_every_one() {
    let gw = gateway().await;
    let too_long = "x".repeat(MAX_TEXT + 1);
    for (path, body, fields) in [
        (
            "/api/messages",
            json!({"to": format!("+{ON_WHATSAPP}"), "text": ""}),
            &["to", "text"][..],
        ),
        ("/api/messages", json!({"to": ON_WHATSAPP, "text": too_long}), &["text"]),
        ("/api/messages", json!({"to": "12ab", "text": "   "}), &["to", "text"]),
        ("/api/messages", json!({}), &["to", "text"]),
        (
            "/api/numbers/check",
            json!({"numbers": ["+15550001", ON_WHATSAPP, "0123456789"]}),
            &["numbers[0]", "numbers[2]"],
        ),
        ("/api/keys", json!({"name": " ", "role": "user"}), &["name"]),
    ] {
        let answer = gw
            .admin(Method::POST, path)
            .json(&body)
            .send()
            .await
            .expect_error(422, "VALIDATION_ERROR");
        assert_eq!(answer.detail_fields(), fields, "{path} {body}: {}", answer.text);
    }
    // Exactly at the limit is fine.
    gw.send_text(&gw.admin, ON_WHATSAPP, &"x".repeat(MAX_TEXT))
        .await
        .expect(200);
    gw.stop().await;
}

#[tokio::test]
async fn unknown_fields_are_refused() {
    let gw = gateway().await;
    for (path, body) in [
        (
            "/api/messages",
            json!({"to": ON_WHATSAPP, "text": "hi", "colour": "red"}),
        ),
        ("/api/numbers/check", json!({"numbers": [ON_WHATSAPP], "colour": "red"})),
        ("/api/keys", json!({"name": "k", "role": "user", "colour": "red"})),
    ] {
        let answer = gw
            .admin(Method::POST, path)
            .json(&body)
            .send()
            .await
            .expect_error(400, "VALIDATION_ERROR");
        assert!(
            answer.text.contains("colour"),
            "{path}: the unknown field is not named: {}",
            answer.text
        );
    }
    assert_eq!(gw.status().await["pendingMessages"], 0);
    gw.stop().await;
}

#[tokio::test]
async fn bodies_over_max_body_are_413() {
    let gw = gateway().await;
    let big = json!({"to": ON_WHATSAPP, "text": "x".repeat(2048)});
    gw.admin(Method::POST, "/api/messages")
        .json(&big)
        .send()
        .await
        .expect_error(413, "UPLOAD_ERROR");
    let many = json!({"numbers": vec![ON_WHATSAPP; 200]});
    gw.admin(Method::POST, "/api/numbers/check")
        .json(&many)
        .send()
        .await
        .expect_error(413, "UPLOAD_ERROR");
    gw.stop().await;
}

#[tokio::test]
async fn every_answer_has_a_request_id_and_plain_client_ids_are_echoed() {
    let gw = gateway().await;
    let mut seen = std::collections::HashSet::new();
    for call in [
        gw.admin(Method::GET, "/api/status"),
        gw.call(Method::GET, "/api/status"),
        gw.call(Method::GET, "/api/nope"),
        gw.call(Method::PUT, "/api/status"),
        gw.admin(Method::POST, "/api/messages").json(&json!({})),
        gw.call(Method::GET, "/healthz"),
    ] {
        let answer = call.send().await;
        assert!(
            seen.insert(answer.header("x-request-id").to_string()),
            "{}: request id reused",
            answer.what
        );
    }
    for path in ["/metrics", "/api/openapi.json", "/docs/"] {
        gw.call(Method::GET, path).raw().await; // raw() asserts the header
    }
    let echoed = gw
        .admin(Method::GET, "/api/status")
        .header("x-request-id", "client-id_42")
        .send()
        .await;
    assert_eq!(echoed.header("x-request-id"), "client-id_42");
    let refused = gw
        .call(Method::GET, "/api/nope")
        .header("x-request-id", "Trace-7")
        .send()
        .await;
    assert_eq!(refused.header("x-request-id"), "Trace-7");
    for unsafe_id in ["has space", "quote\"d", &"a".repeat(65)] {
        let answer = gw
            .admin(Method::GET, "/api/status")
            .header("x-request-id", unsafe_id)
            .send()
            .await;
        let id = answer.header("x-request-id");
        assert_ne!(id, unsafe_id);
        assert!(
            id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{id:?}"
        );
    }
    gw.stop().await;
}
