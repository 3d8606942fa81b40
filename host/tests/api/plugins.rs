//! Plugins through the API with the real built components: each hook of each example plugin,
//! `GET /api/plugins`, and the failure policy.

use reqwest::Method;
use serde_json::json;

use crate::support::{Gateway, ON_WHATSAPP, eventually, example_plugin};

async fn send(gw: &Gateway, body: serde_json::Value) -> crate::support::Answer {
    gw.admin(Method::POST, "/api/messages").json(&body).send().await
}

#[tokio::test]
async fn the_template_plugin_renders_vars_named_templates_and_refuses_missing_variables() {
    let gw = Gateway::with_plugins(
        &[("template", example_plugin("template"))],
        &[
            (
                "plugins.template.templates",
                r#"{ welcome = "Welcome to {{shop}}, {{name}}!" }"#,
            ),
            ("plugins.template.defaults", r#"{ shop = "Acme" }"#),
        ],
    )
    .await;
    let a = send(
        &gw,
        json!({"to": ON_WHATSAPP, "text": "Hi {{ name }}", "vars": {"name": "Ana"}}),
    )
    .await;
    assert_eq!(a.expect(200).data()["text"], "Hi Ana");
    let a = send(
        &gw,
        json!({"to": ON_WHATSAPP, "template": "welcome", "vars": {"name": "Omar"}}),
    )
    .await;
    assert_eq!(a.expect(200).data()["text"], "Welcome to Acme, Omar!");
    let a = send(&gw, json!({"to": ON_WHATSAPP, "text": "Hi {{name}}", "vars": {}})).await;
    let a = a.expect_error(422, "VALIDATION_ERROR");
    assert_eq!(a.detail_fields(), ["vars"]);
    assert!(
        a.error().contains("name") && a.error().contains("plugin template"),
        "{}",
        a.error()
    );
    let a = send(&gw, json!({"to": ON_WHATSAPP, "template": "nope"})).await;
    assert_eq!(a.expect_error(422, "VALIDATION_ERROR").detail_fields(), ["template"]);
    gw.stop().await;
}

#[tokio::test]
async fn the_recipient_filter_refuses_with_recipient_rejected() {
    let gw = Gateway::with_plugins(
        &[("recipient-filter", example_plugin("recipient-filter"))],
        &[("plugins.recipient-filter.deny_prefixes", r#"["9230"]"#)],
    )
    .await;
    let a = send(&gw, json!({"to": ON_WHATSAPP, "text": "hello"})).await;
    let a = a.expect_error(422, "RECIPIENT_REJECTED");
    assert!(a.error().contains("recipient-filter"), "{}", a.error());
    let a = send(&gw, json!({"to": "447700900123", "text": "hello"})).await;
    assert_eq!(a.expect(200).data()["to"], "447700900123");
    gw.stop().await;
}

#[tokio::test]
async fn plugins_are_listed_with_version_hooks_hash_and_counts() {
    let gw = Gateway::with_plugins(
        &[
            ("template", example_plugin("template")),
            ("recipient-filter", example_plugin("recipient-filter")),
            ("webhook-forward", example_plugin("webhook-forward")),
        ],
        &[("plugins.order", r#"["recipient-filter"]"#)],
    )
    .await;
    send(&gw, json!({"to": ON_WHATSAPP, "text": "hello"})).await.expect(200);
    let list = gw.admin(Method::GET, "/api/plugins").send().await.expect(200);
    let names: Vec<&str> = list
        .data()
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["recipient-filter", "template", "webhook-forward"]);
    let filter = &list.data()[0];
    assert_eq!(filter["state"], "active");
    assert_eq!(filter["hooks"], json!(["filter"]));
    assert_eq!(filter["hash"].as_str().unwrap().len(), 64);
    assert_eq!(filter["interface"], "0.1.0");
    assert_eq!(filter["calls"], 1);
    assert_eq!(filter["failures"], 0);
    assert!(filter["p50Us"].as_u64().unwrap() > 0);
    assert_eq!(list.data()[2]["hooks"], json!(["events"]));
    let user = gw.create_key("user").await;
    gw.call(Method::GET, "/api/plugins")
        .key(&user.secret)
        .send()
        .await
        .expect_error(403, "ADMIN_REQUIRED");
    gw.stop().await;
}

#[tokio::test]
async fn javascript_python_and_c_plugins_run_their_hooks() {
    let gw = Gateway::with_plugins(
        &[
            ("js-signature", example_plugin("js-signature")),
            ("py-keyword-filter", example_plugin("py-keyword-filter")),
            ("c-length-guard", example_plugin("c-length-guard")),
        ],
        &[
            ("plugins.js-signature.signature", r#"" — Acme""#),
            ("plugins.py-keyword-filter.blocked_words", r#"["lottery"]"#),
            ("plugins.c-length-guard.max_chars", "40"),
        ],
    )
    .await;
    // JavaScript rewrites, then Python and C look at the final text.
    let a = send(&gw, json!({"to": ON_WHATSAPP, "text": "Your order shipped"})).await;
    assert_eq!(a.expect(200).data()["text"], "Your order shipped — Acme");
    let a = send(&gw, json!({"to": ON_WHATSAPP, "text": "You won the LOTTERY!"})).await;
    let a = a.expect_error(422, "RECIPIENT_REJECTED");
    assert!(
        a.error().contains("lottery") && a.error().contains("py-keyword-filter"),
        "{}",
        a.error()
    );
    let a = send(
        &gw,
        json!({"to": ON_WHATSAPP, "text": "a perfectly fine but rather long text"}),
    )
    .await;
    let a = a.expect_error(422, "RECIPIENT_REJECTED");
    assert!(a.error().contains("c-length-guard"), "{}", a.error());
    let list = gw.admin(Method::GET, "/api/plugins").send().await.expect(200);
    for p in list.data().as_array().unwrap() {
        assert_eq!(p["state"], "active", "{p}");
        assert_eq!(p["failures"], 0, "{p}");
    }
    gw.stop().await;
}

#[tokio::test]
async fn a_plugin_keeps_its_key_value_store_across_calls_and_restarts() {
    let gw = Gateway::with_plugins(
        &[("counter", crate::support::fixture_plugin("kv-counter"))],
        &[("plugins.counter.prefix", r#""n=""#)],
    )
    .await;
    for n in 1..=2 {
        let a = send(&gw, json!({"to": ON_WHATSAPP, "text": "hi"})).await;
        assert_eq!(a.expect(200).data()["text"], format!("hi n={n}"));
    }
    let gw = gw.restart(&[("plugins.counter.prefix", r#""n=""#)]).await;
    let a = send(&gw, json!({"to": ON_WHATSAPP, "text": "hi"})).await;
    assert_eq!(a.expect(200).data()["text"], "hi n=3");
    gw.stop().await;
}

#[tokio::test]
async fn a_plugin_key_value_store_is_capped() {
    let gw = Gateway::with_plugins(
        &[("counter", crate::support::fixture_plugin("kv-counter"))],
        &[("plugins.kv_max_bytes", r#""10B""#)],
    )
    .await;
    // "count" + "1" fits in 10 bytes; "last_ms" + 13 digits does not: the plugin's kv-set is
    // refused, it returns the refusal as an error, and the request is refused with it.
    let a = send(&gw, json!({"to": ON_WHATSAPP, "text": "hi"})).await;
    let a = a.expect_error(422, "VALIDATION_ERROR");
    assert!(a.error().contains("over its cap of 10"), "{}", a.error());
    gw.stop().await;
}

#[tokio::test]
async fn the_webhook_forwarder_turns_events_into_signed_deliveries() {
    let (url, mut rx) = crate::support::webhook_receiver().await;
    let url_literal = format!("{url:?}");
    let gw = Gateway::with_plugins(
        &[("webhook-forward", example_plugin("webhook-forward"))],
        &[
            ("plugins.webhook-forward.url", &url_literal),
            ("plugins.webhook-forward.events", r#"["sent"]"#),
            (
                "plugins.webhook-forward.secret",
                r#""whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw""#,
            ),
            ("plugins.webhook-forward.allow_private", "true"),
        ],
    )
    .await;
    let sent = send(&gw, json!({"to": ON_WHATSAPP, "text": "ping"})).await;
    let id = sent.expect(200).data()["id"].as_i64().unwrap();
    let (headers, body) = tokio::time::timeout(std::time::Duration::from_secs(20), rx.recv())
        .await
        .expect("a delivery within 20 s")
        .unwrap();
    let payload: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(payload["type"], "message.sent");
    assert_eq!(payload["data"]["id"], id.to_string());
    assert_eq!(payload["data"]["text"], "ping");
    for header in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        assert!(headers.contains_key(header), "{header} missing: {headers:?}");
    }
    assert!(headers["webhook-signature"].to_str().unwrap().starts_with("v1,"));
    gw.stop().await;
}

#[tokio::test]
async fn the_webhook_forwarder_is_refused_a_private_target_without_allow_private() {
    let (url, _rx) = crate::support::webhook_receiver().await;
    let url_literal = format!("{url:?}");
    let gw = Gateway::with_plugins(
        &[("webhook-forward", example_plugin("webhook-forward"))],
        &[
            ("plugins.webhook-forward.url", &url_literal),
            ("plugins.webhook-forward.events", r#"["sent"]"#),
            (
                "plugins.webhook-forward.secret",
                r#""whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw""#,
            ),
        ],
    )
    .await;
    send(&gw, json!({"to": ON_WHATSAPP, "text": "ping"})).await.expect(200);
    // The events hook reports the host's refusal as an error: counted as a call, logged.
    crate::support::eventually("the forwarder was called for the sent event", || async {
        let list = gw.admin(Method::GET, "/api/plugins").send().await.expect(200);
        (list.data()[0]["calls"].as_u64() >= Some(1)).then_some(())
    })
    .await;
    let failed = gw.admin(Method::GET, "/api/webhooks/failed").send().await.expect(200);
    assert_eq!(failed.data()["items"], json!([]), "a refused delivery is never stored");
    gw.stop().await;
}

#[tokio::test]
async fn the_cache_keeps_what_is_loaded_and_drops_what_nothing_used_for_a_day() {
    let cache = tempfile::tempdir().unwrap();
    let day_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(25 * 3600);
    let age = |path: &std::path::Path| {
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(day_ago)
            .unwrap()
    };
    let stale = [
        // An older version's artifact, the pre-digest format, a write a crash left behind.
        format!(
            "{}-0123456789abcdef-0123456789abcdef0123456789abcdef.cwasm",
            "0".repeat(64)
        ),
        format!("{}-0123456789abcdef.cwasm", "1".repeat(64)),
        ".4242.77.tmp".to_string(),
    ];
    for name in &stale {
        std::fs::write(cache.path().join(name), vec![0u8; 4096]).unwrap();
        age(&cache.path().join(name));
    }
    std::fs::write(cache.path().join("README"), "not ours").unwrap();
    let quoted = format!("{:?}", cache.path().display().to_string());
    let gw = Gateway::with_plugins(
        &[("recipient-filter", example_plugin("recipient-filter"))],
        &[("plugins.cache_dir", &quoted), ("plugins.debounce", r#""20ms""#)],
    )
    .await;
    let artifacts = || {
        let mut names: Vec<String> = std::fs::read_dir(cache.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    let hash_of = |list: &crate::support::Answer, name: &str| -> String {
        list.data()
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["hash"].as_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let list = gw.admin(Method::GET, "/api/plugins").send().await.expect(200);
    let filter = hash_of(&list, "recipient-filter");
    let after_start = artifacts();
    assert_eq!(after_start.len(), 2, "{after_start:?}");
    assert!(after_start.contains(&"README".to_string()), "{after_start:?}");
    let loaded = after_start
        .iter()
        .find(|n| n.starts_with(&filter))
        .unwrap_or_else(|| panic!("no artifact of {filter}: {after_start:?}"))
        .clone();

    // The loaded plugin's artifact, however old, stays when the next rescan prunes.
    age(&cache.path().join(&loaded));
    gw.install_plugin("template", &example_plugin("template"));
    let template = eventually("the template plugin loaded", || async {
        let list = gw.admin(Method::GET, "/api/plugins").send().await;
        Some(hash_of(&list, "template")).filter(|h| !h.is_empty())
    })
    .await;
    let now = eventually("the template's artifact cached", || async {
        let names = artifacts();
        names.iter().any(|n| n.starts_with(&template)).then_some(names)
    })
    .await;
    assert_eq!(now.len(), 3, "{now:?}");
    assert!(now.contains(&loaded), "the loaded filter's artifact went: {now:?}");
    gw.stop().await;
}
