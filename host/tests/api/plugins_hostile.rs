//! Hostile plugins: an endless loop, a trap, a memory bomb, a huge answer, a plugin built for
//! another interface version, files that are not components. Each is stopped within its bound
//! and counted, the failure policy decides what happens to the message, and the server keeps
//! answering throughout.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Answer, Gateway, ON_WHATSAPP, fixture_plugin};

async fn send(gw: &Gateway, text: &str) -> Answer {
    gw.admin(Method::POST, "/api/messages")
        .json(&json!({"to": ON_WHATSAPP, "text": text}))
        .send()
        .await
}

async fn plugin(gw: &Gateway, name: &str) -> Value {
    let list = gw.admin(Method::GET, "/api/plugins").send().await.expect(200);
    list.data()
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{name} not listed: {}", list.data()))
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_loop_is_stopped_by_the_budget_and_its_filter_fails_closed() {
    let gw = Gateway::with_plugins(
        &[("endless-loop", fixture_plugin("endless-loop"))],
        &[("plugins.endless-loop.budget", r#""50ms""#)],
    )
    .await;
    // While the loop burns its budget, other requests are answered.
    let health = {
        let url = gw.url("/healthz");
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut answered = 0;
            let start = Instant::now();
            while start.elapsed() < Duration::from_millis(300) {
                if client.get(&url).send().await.is_ok_and(|r| r.status() == 200) {
                    answered += 1;
                }
            }
            answered
        })
    };
    let start = Instant::now();
    let a = send(&gw, "hello").await;
    let took = start.elapsed();
    let a = a.expect_error(422, "RECIPIENT_REJECTED");
    assert!(a.error().contains("time budget of 50ms"), "{}", a.error());
    assert!(
        took < Duration::from_secs(3),
        "a 50 ms budget stopped the loop only after {took:?}"
    );
    assert!(
        health.await.unwrap() > 0,
        "the server answered nothing while the plugin looped"
    );
    let p = plugin(&gw, "endless-loop").await;
    assert_eq!((p["calls"].as_u64(), p["failures"].as_u64()), (Some(1), Some(1)));
    assert_eq!(p["state"], "active");
    gw.stop().await;
}

#[tokio::test]
async fn failing_filters_with_on_error_allow_let_messages_through_and_are_counted() {
    let gw = Gateway::with_plugins(
        &[
            ("endless-loop", fixture_plugin("endless-loop")),
            ("trap", fixture_plugin("trap")),
        ],
        &[
            ("plugins.budget", r#""30ms""#),
            ("plugins.endless-loop.on_error", r#""allow""#),
            ("plugins.trap.on_error", r#""allow""#),
        ],
    )
    .await;
    for _ in 0..2 {
        let a = send(&gw, "hello").await;
        assert_eq!(a.expect(200).data()["text"], "hello");
    }
    for name in ["endless-loop", "trap"] {
        let p = plugin(&gw, name).await;
        assert_eq!(
            (p["calls"].as_u64(), p["failures"].as_u64()),
            (Some(2), Some(2)),
            "{name}"
        );
    }
    gw.stop().await;
}

#[tokio::test]
async fn a_memory_bomb_and_a_huge_answer_are_stopped_and_the_text_goes_on_unchanged() {
    let gw = Gateway::with_plugins(
        &[
            ("memory-bomb", fixture_plugin("memory-bomb")),
            ("huge-output", fixture_plugin("huge-output")),
        ],
        &[("plugins.memory", r#""48MB""#)],
    )
    .await;
    let start = Instant::now();
    let a = send(&gw, "hello").await;
    assert_eq!(a.expect(200).data()["text"], "hello");
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
    for name in ["memory-bomb", "huge-output"] {
        let p = plugin(&gw, name).await;
        assert_eq!(
            (p["calls"].as_u64(), p["failures"].as_u64()),
            (Some(1), Some(1)),
            "{name}"
        );
    }
    let metrics = gw.call(Method::GET, "/metrics").raw().await.text().await.unwrap();
    assert!(
        metrics.contains("wapi_plugin_failures_total{plugin=\"memory-bomb\",hook=\"template\"} 1"),
        "{metrics}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn files_that_are_not_plugins_for_this_host_are_refused_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, "this is not wasm").unwrap();
    let module = dir.path().join("module.wasm");
    std::fs::write(&module, b"\0asm\x01\0\0\0").unwrap();
    let gw = Gateway::with_plugins(
        &[
            ("wrong-version", fixture_plugin("wrong-version")),
            ("junk", junk),
            ("module", module),
        ],
        &[],
    )
    .await;
    let cases = [
        ("wrong-version", "built for wapi:plugin@9.0.0"),
        ("junk", "not a WebAssembly file"),
        ("module", "core WebAssembly module"),
    ];
    for (name, reason) in cases {
        let p = plugin(&gw, name).await;
        assert_eq!(p["state"], "failed", "{name}");
        assert!(
            p["loadError"].as_str().unwrap().contains(reason),
            "{name}: {}",
            p["loadError"]
        );
        assert_eq!(p["hooks"], json!([]));
    }
    let a = send(&gw, "still serving").await;
    assert_eq!(a.expect(200).data()["text"], "still serving");
    gw.stop().await;
}

#[tokio::test]
async fn a_bad_host_key_in_a_plugin_table_keeps_the_plugin_out_with_the_key_named() {
    let gw = Gateway::with_plugins(
        &[
            ("trap", fixture_plugin("trap")),
            ("endless-loop", fixture_plugin("endless-loop")),
        ],
        &[
            ("plugins.trap.on_error", r#""maybe""#),
            ("plugins.endless-loop.budget", r#""soon""#),
        ],
    )
    .await;
    for (name, key) in [
        ("trap", "plugins.trap.on_error"),
        ("endless-loop", "plugins.endless-loop.budget"),
    ] {
        let p = plugin(&gw, name).await;
        assert_eq!(p["state"], "failed", "{name}");
        assert!(
            p["loadError"].as_str().unwrap().contains(key),
            "{name}: {}",
            p["loadError"]
        );
    }
    // Neither filter runs: the message goes through.
    assert_eq!(send(&gw, "hello").await.expect(200).data()["text"], "hello");
    gw.stop().await;
}
