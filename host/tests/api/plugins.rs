//! Plugins through the API with the real built components: each hook of each example plugin,
//! `GET /api/plugins`, and the failure policy.

use reqwest::Method;
use serde_json::json;

use crate::support::{Gateway, ON_WHATSAPP, example_plugin};

async fn send(gw: &Gateway, body: serde_json::Value) -> crate::support::Answer {
    gw.admin(Method::POST, "/api/messages").json(&body).send().await
}

#[tokio::test]
async fn the_template_plugin_renders_vars_named_templates_and_refuses_missing_variables() {
    let gw = Gateway::with_plugins(
        &[("template", example_plugin("template"))],
        &[("plugins.template.templates", r#"{ welcome = "Welcome to {{shop}}, {{name}}!" }"#), ("plugins.template.defaults", r#"{ shop = "Acme" }"#)],
    )
    .await;
    let a = send(&gw, json!({"to": ON_WHATSAPP, "text": "Hi {{ name }}", "vars": {"name": "Ana"}})).await;
    assert_eq!(a.expect(200).data()["text"], "Hi Ana");
    let a = send(&gw, json!({"to": ON_WHATSAPP, "template": "welcome", "vars": {"name": "Omar"}})).await;
    assert_eq!(a.expect(200).data()["text"], "Welcome to Acme, Omar!");
    let a = send(&gw, json!({"to": ON_WHATSAPP, "text": "Hi {{name}}", "vars": {}})).await;
    let a = a.expect_error(422, "VALIDATION_ERROR");
    assert_eq!(a.detail_fields(), ["vars"]);
    assert!(a.error().contains("name") && a.error().contains("plugin template"), "{}", a.error());
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
    let names: Vec<&str> = list.data().as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
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
    gw.call(Method::GET, "/api/plugins").key(&user.secret).send().await.expect_error(403, "ADMIN_REQUIRED");
    gw.stop().await;
}
