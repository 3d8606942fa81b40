//! Plugins in the real binary: the example plugins of every language loaded from the folder
//! the config names and run in the configured order; a replaced file served without a restart;
//! a plugin's key-value store and the precompiled cache surviving `kill -9`.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::{Gateway, Setup, TO, eventually_within};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo")
        .to_path_buf()
}

fn read(path: PathBuf) -> Vec<u8> {
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} — build the plugins with `cargo xtask plugins` (`cargo xtask test` does)",
            path.display()
        )
    })
}

pub(crate) fn example(name: &str) -> Vec<u8> {
    read(repo().join("plugins.d").join(format!("{name}.wasm")))
}

fn fixture(name: &str) -> Vec<u8> {
    read(
        repo()
            .join("tests/fixtures/plugins/target/wasm32-wasip2/release")
            .join(format!("{}.wasm", name.replace('-', "_"))),
    )
}

/// A setup sharing the test run's precompiled-plugin cache (the Python example compiles once).
pub(crate) fn with_shared_cache() -> Setup {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache");
    Setup::new().set("plugins.cache_dir", cache.display().to_string())
}

async fn plugins(gw: &Gateway) -> Vec<Value> {
    let list = gw.get("/api/plugins").send().await.expect(200);
    list.data().as_array().expect("a list").clone()
}

#[tokio::test]
async fn the_example_plugins_of_every_language_run_in_the_configured_order() {
    let mut setup = with_shared_cache()
        .raw("plugins.order", r#"["template", "js-signature"]"#)
        .set("plugins.js-signature.signature", " (sent by wapi)")
        .raw("plugins.py-keyword-filter.blocked_words", r#"["casino"]"#)
        .set("plugins.c-length-guard.max_chars", 200)
        .raw("plugins.recipient-filter.deny_prefixes", r#"["4420"]"#);
    for name in [
        "template",
        "recipient-filter",
        "webhook-forward",
        "js-signature",
        "py-keyword-filter",
        "c-length-guard",
    ] {
        setup = setup.file(&format!("plugins.d/{name}.wasm"), example(name));
    }
    let mut gw = Gateway::start(setup).await;
    let listed = plugins(&gw).await;
    let names: Vec<&str> = listed.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "template",
            "js-signature",
            "c-length-guard",
            "py-keyword-filter",
            "recipient-filter",
            "webhook-forward"
        ]
    );
    assert!(listed.iter().all(|p| p["state"] == "active"), "{listed:?}");

    // The template renders first, then JavaScript signs the rendered text.
    let sent = gw
        .post(
            "/api/messages",
            json!({"to": TO, "text": "Hi {{name}}", "vars": {"name": "Ana"}}),
        )
        .send()
        .await
        .expect(200);
    assert_eq!(sent.data()["text"], "Hi Ana (sent by wapi)");
    let refused = gw
        .post("/api/messages", json!({"to": TO, "text": "casino night"}))
        .send()
        .await;
    refused.expect_error(422, "RECIPIENT_REJECTED");
    let refused = gw
        .post("/api/messages", json!({"to": "442071234567", "text": "hello"}))
        .send()
        .await;
    refused.expect_error(422, "RECIPIENT_REJECTED");
    // The webhook forwarder has no url configured: it runs on events and warns, nothing fails.
    gw.drained(Duration::from_secs(20)).await;
    let forwarder = plugins(&gw)
        .await
        .into_iter()
        .find(|p| p["name"] == "webhook-forward")
        .unwrap();
    assert_eq!(forwarder["failures"], 0, "{forwarder}");
    gw.terminate().await;
}

#[tokio::test]
async fn a_replaced_plugin_serves_without_a_restart_and_state_and_cache_survive_kill_9() {
    let setup = with_shared_cache()
        .set("plugins.debounce", "20ms")
        .file("plugins.d/counter.wasm", fixture("kv-counter"))
        .file("plugins.d/stamp.wasm", fixture("stamp-a"));
    let mut gw = Gateway::start(setup).await;
    let text = |r: crate::Answer| r.expect(200).data()["text"].as_str().unwrap().to_string();
    assert_eq!(text(gw.send_text(&gw.admin, TO, "hi").await), "hi #1 [a]");

    let folder = gw.dir().join("plugins.d");
    std::fs::write(folder.join(".stamp.tmp"), fixture("stamp-b")).unwrap();
    std::fs::rename(folder.join(".stamp.tmp"), folder.join("stamp.wasm")).unwrap();
    eventually_within("the new version serves", Duration::from_secs(20), || async {
        let t = text(gw.send_text(&gw.admin, TO, "hi").await);
        t.ends_with("[b]").then_some(t)
    })
    .await;

    gw.kill9();
    gw.restart().await;
    let after = text(gw.send_text(&gw.admin, TO, "hi").await);
    assert!(after.ends_with("[b]"), "{after}");
    let n: u32 = after
        .trim_start_matches("hi #")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(n >= 3, "the counter went on from where it was: {after}");
    let logs = gw.logs();
    let second_run = logs.split("--- run 2 ").skip(1).collect::<String>();
    assert_eq!(
        second_run.matches("plugin loaded").count(),
        second_run.matches("cached=true").count(),
        "the restart mapped every plugin from the cache: {second_run}"
    );
    assert_eq!(second_run.matches("plugin loaded").count(), 2, "{second_run}");
    gw.terminate().await;
}
