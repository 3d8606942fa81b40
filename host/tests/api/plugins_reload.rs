//! Hot reload of the plugins folder under traffic: replace, break, remove — calls in flight
//! finish on the version they started with, a broken file never replaces a working one, and no
//! request fails while it happens.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use reqwest::Method;
use serde_json::json;

use crate::support::{Gateway, ON_WHATSAPP, eventually, fixture_plugin};

/// No rate limit or daily cap gets in the way of a stream of sends.
const UNLIMITED: &[(&str, &str)] = &[
    ("limits.requests_per_window", "1000000"),
    ("antiban.daily_limit", "1000000"),
    ("antiban.sync_wait", r#""0ms""#),
    ("plugins.debounce", r#""20ms""#),
];

async fn text_of_a_send(gw: &Gateway, text: &str) -> String {
    let a = gw
        .admin(Method::POST, "/api/messages")
        .json(&json!({"to": ON_WHATSAPP, "text": text}))
        .send()
        .await;
    let status = a.status.as_u16();
    assert!(
        status == 200 || status == 202,
        "a send failed during a reload: {status}"
    );
    a.data()["text"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacing_breaking_and_removing_a_plugin_under_traffic_fails_no_request() {
    let gw = Arc::new(Gateway::with_plugins(&[("stamp", fixture_plugin("stamp-a"))], UNLIMITED).await);
    assert_eq!(text_of_a_send(&gw, "hi").await, "hi [a]");

    // Four clients send without pause through every change below.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (gw, stop, sent) = (gw.clone(), stop.clone(), sent.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let text = text_of_a_send(&gw, "x").await;
                    assert!(["x [a]", "x [b]", "x"].contains(&text.as_str()), "{text}");
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    gw.install_plugin("stamp", &fixture_plugin("stamp-b"));
    eventually("version b serves", || async {
        (text_of_a_send(&gw, "hi").await == "hi [b]").then_some(())
    })
    .await;

    // A broken file under the same name: b keeps serving, the error is shown.
    let junk = gw.plugins_dir().join(".junk");
    std::fs::write(&junk, "not a component").unwrap();
    std::fs::rename(&junk, gw.plugins_dir().join("stamp.wasm")).unwrap();
    let listed = eventually("the load error is shown", || async {
        let list = gw.admin(Method::GET, "/api/plugins").send().await.expect(200);
        let p = list.data()[0].clone();
        p["loadError"].is_string().then_some(p)
    })
    .await;
    assert_eq!(
        (listed["state"].as_str(), listed["version"].as_str()),
        (Some("active"), Some("b"))
    );
    assert!(listed["loadError"].as_str().unwrap().contains("not a WebAssembly file"));
    assert_eq!(text_of_a_send(&gw, "hi").await, "hi [b]");

    // Removed: the text goes out unchanged.
    std::fs::remove_file(gw.plugins_dir().join("stamp.wasm")).unwrap();
    eventually("the plugin is gone", || async {
        (text_of_a_send(&gw, "hi").await == "hi").then_some(())
    })
    .await;
    let list = gw.admin(Method::GET, "/api/plugins").send().await.expect(200);
    assert_eq!(list.data(), &json!([]));

    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.expect("no client saw a failure");
    }
    assert!(sent.load(Ordering::Relaxed) > 0);
    Arc::into_inner(gw).expect("clients are done").stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_in_flight_finishes_on_the_version_it_started_on() {
    let mut overrides = UNLIMITED.to_vec();
    overrides.push(("plugins.stamp.spin_ms", "1500"));
    overrides.push(("plugins.budget", r#""5s""#));
    let gw = Arc::new(Gateway::with_plugins(&[("stamp", fixture_plugin("stamp-a"))], &overrides).await);
    let in_flight = {
        let gw = gw.clone();
        tokio::spawn(async move { text_of_a_send(&gw, "slow").await })
    };
    eventually("the slow call to start on version a", || async {
        let db = rusqlite::Connection::open(gw.database_path()).expect("open the database");
        let spinning = db.query_row(
            "SELECT value FROM plugin_kv WHERE plugin = 'stamp' AND key = 'spinning'",
            [],
            |r| r.get::<_, String>(0),
        );
        (spinning.ok()? == "a").then_some(())
    })
    .await;
    gw.install_plugin("stamp", &fixture_plugin("stamp-b"));
    eventually("version b is published", || async {
        let list = gw.admin(Method::GET, "/api/plugins").send().await.expect(200);
        (list.data()[0]["version"] == "b").then_some(())
    })
    .await;
    assert_eq!(
        in_flight.await.unwrap(),
        "slow [a]",
        "the call that started on a finished on a"
    );
    assert_eq!(text_of_a_send(&gw, "next").await, "next [b]");
    Arc::into_inner(gw).expect("the call is done").stop().await;
}
