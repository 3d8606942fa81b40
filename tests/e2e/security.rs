//! Security through the real binary: no key secret rests in any file of the data folder (the
//! database, its WAL and shared memory included, after a `kill -9` and after a clean stop) nor in
//! any log line at `WAPI_LOG=trace` — the one exception is the bootstrap admin key, which the
//! first start writes to `admin-key.txt` and prints once, by design; revocation through the API
//! and through `wapi keys revoke` in another process counts on the very next request; a user key
//! reaches no operation the OpenAPI document marks admin-only (those that document a 403) and sees
//! no other key; CORS stays closed unless configured; every page, asset and answer carries the
//! security headers; and the request size limits (`max_body`, `max_upload`, `max_batch`,
//! `max_text`) are enforced with the envelope. Webhook SSRF refusals are proven in process
//! (`host/tests/api/ssrf.rs`), where a resolver can be substituted.

use std::path::{Path, PathBuf};

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::{Answer, Gateway, Setup, TO};

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn occurrences(hay: &[u8], needle: &str) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle.as_bytes()).count()
}

/// A user key made through the API; returns the whole key.
async fn api_key(gw: &Gateway, name: &str) -> String {
    let created = gw
        .post("/api/keys", json!({ "name": name, "role": "user" }))
        .send()
        .await
        .expect(201);
    created.data()["secret"].as_str().expect("secret").to_string()
}

/// A user key made by `wapi keys create` in another process; returns it and the CLI's stderr.
async fn cli_key(gw: &Gateway, name: &str) -> (String, String) {
    let out = gw.cli(&["keys", "create", "--name", name, "--role", "user"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(key.starts_with("wapi_") && key.len() == 46, "{key:?}");
    (key, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Searches every file of the gateway's folder and `extra` texts for each secret; the admin's
/// may appear only in `admin-key.txt` (stdout is not a terminal here, so the first start prints
/// only the file's path). Returns bytes searched.
fn search(gw: &Gateway, secrets: &[(&str, &str)], admin: &str, extra: &[(&str, &str)], when: &str) -> usize {
    let mut searched = 0;
    let mut hits = Vec::new();
    let admin_file = gw.admin_key_file();
    let mut sources: Vec<(String, Vec<u8>)> = files_under(gw.dir())
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read(&p).expect("readable")))
        .collect();
    sources.extend(extra.iter().map(|(n, t)| (n.to_string(), t.as_bytes().to_vec())));
    for (name, bytes) in &sources {
        searched += bytes.len();
        for (what, secret) in secrets {
            let n = occurrences(bytes, secret);
            if n > 0 {
                hits.push(format!("{what} ×{n} in {name}"));
            }
        }
        let n = occurrences(bytes, admin);
        let allowed = if *name == admin_file.display().to_string() {
            1
        } else {
            0
        };
        if n != allowed {
            hits.push(format!("admin secret ×{n} in {name} (allowed {allowed})"));
        }
    }
    let db_files: Vec<&str> = sources
        .iter()
        .filter(|(n, _)| n.contains("wapi.db"))
        .map(|(n, _)| n.rsplit('/').next().unwrap())
        .collect();
    println!(
        "{when}: searched {} files ({searched} bytes; database files {db_files:?}) for {} secrets: hits = {}",
        sources.len(),
        secrets.len() + 1,
        hits.len()
    );
    assert!(hits.is_empty(), "secrets found: {hits:#?}");
    searched
}

/// Uses the keys as clients would: both ways of presenting one, a send, a wrong secret, a user
/// key on an admin route, and a key put in a URL by mistake (not read, and not logged either).
async fn use_keys(gw: &Gateway, by_api: &str, by_cli: &str, wrong: &str) {
    gw.call(Method::GET, "/api/status").key(by_api).send().await.expect(200);
    gw.call(Method::GET, "/api/status")
        .bearer(by_cli)
        .send()
        .await
        .expect(200);
    let send = gw
        .call(Method::POST, "/api/messages")
        .key(by_cli)
        .json(&json!({ "to": TO, "text": "hello" }));
    send.send().await.accepted();
    gw.call(Method::GET, "/api/status")
        .key(wrong)
        .send()
        .await
        .expect_error(401, "UNAUTHORIZED");
    gw.call(Method::GET, "/api/keys")
        .bearer(by_api)
        .send()
        .await
        .expect_error(403, "ADMIN_REQUIRED");
    gw.call(Method::GET, &format!("/api/status?api_key={by_api}"))
        .send()
        .await
        .expect_error(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn no_key_secret_rests_in_any_file_or_log_line_at_trace_level() {
    let mut gw = Gateway::start(Setup::new().without_admin_key().env("WAPI_LOG", "trace")).await;
    let admin = gw.admin[14..].to_string();
    let by_api = api_key(&gw, "made-by-api").await;
    let (by_cli, cli_stderr) = cli_key(&gw, "made-by-cli").await;
    let wrong = format!("{}{}", &by_api[..14], "Z".repeat(32));
    use_keys(&gw, &by_api, &by_cli, &wrong).await;
    assert!(gw.logs().contains("TRACE"), "the log runs at trace level");
    let secrets = [
        ("API-made key", by_api.as_str()),
        ("API-made secret", &by_api[14..]),
        ("CLI-made key", by_cli.as_str()),
        ("CLI-made secret", &by_cli[14..]),
        ("wrong secret", &wrong[14..]),
    ];
    let cli = [("the CLI's stderr", cli_stderr.as_str())];

    gw.kill9();
    let wal = gw.dir().join("data/wapi.db-wal");
    let wal_size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    println!("after kill -9: {} holds {wal_size} bytes", wal.display());
    assert!(wal_size > 0, "the WAL is there to search");
    let mut searched = search(&gw, &secrets, &admin, &cli, "after kill -9");

    gw.restart().await;
    use_keys(&gw, &by_api, &by_cli, &wrong).await;
    let status = gw.terminate().await;
    assert!(status.success(), "a clean stop: {status}");
    searched += search(&gw, &secrets, &admin, &cli, "after a clean stop");
    println!("bytes searched in all: {searched}; hits = 0");
}

#[tokio::test]
async fn revocation_counts_on_the_next_request_from_the_api_and_from_another_process() {
    let gw = Gateway::start(Setup::new()).await;
    let by_api = api_key(&gw, "revoked-by-api").await;
    let (by_cli, _) = cli_key(&gw, "revoked-by-cli").await;
    for key in [&by_api, &by_cli] {
        gw.call(Method::GET, "/api/status").key(key).send().await.expect(200);
    }
    gw.delete(&format!("/api/keys/{}", &by_api[5..13]))
        .send()
        .await
        .expect(200);
    let status = || gw.call(Method::GET, "/api/status");
    for presented in [status().key(&by_api), status().bearer(&by_api)] {
        presented.send().await.expect_error(401, "UNAUTHORIZED");
    }
    let out = gw.cli(&["keys", "revoke", &by_cli[5..13]]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let send = gw
        .call(Method::POST, "/api/messages")
        .key(&by_cli)
        .json(&json!({ "to": TO, "text": "after revocation" }));
    send.send().await.expect_error(401, "UNAUTHORIZED");
    assert!(gw.record().is_empty(), "nothing was sent with a revoked key");
}

/// `{id}`-style placeholders filled with something of the right shape.
fn concrete(path: &str, key_id: &str) -> String {
    let filled = if path.starts_with("/api/keys/") {
        key_id
    } else if path.starts_with("/api/webhooks/") {
        "msg_nosuchdelivery"
    } else {
        "1"
    };
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').expect("closed placeholder") + open;
        out.push_str(&rest[..open]);
        out.push_str(filled);
        rest = &rest[close + 1..];
    }
    out + rest
}

#[tokio::test]
async fn a_user_key_reaches_no_admin_operation_and_sees_no_other_key() {
    let gw = Gateway::start(Setup::new()).await;
    let user = api_key(&gw, "just-a-user").await;
    let admin_id = &gw.admin[5..13];
    let doc = gw.openapi().await;
    let mut admin_ops = vec![(Method::POST, "/api/simulator".to_string())];
    let mut user_ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            let call = (method, concrete(path, admin_id));
            match op["responses"].get("403") {
                Some(_) => admin_ops.push(call),
                None if path.starts_with("/api/") => user_ops.push(call),
                None => {}
            }
        }
    }
    let listed: Vec<String> = admin_ops.iter().map(|(m, p)| format!("{m} {p}")).collect();
    println!("admin-only operations ({}): {listed:?}", admin_ops.len());
    for must in [
        "GET /api/keys",
        "POST /api/keys",
        "POST /api/session/logout",
        "GET /api/plugins",
    ] {
        assert!(listed.iter().any(|l| l == must), "{must} is not marked admin-only");
    }
    for (method, path) in &admin_ops {
        let request = gw.call(method.clone(), path).key(&user).json(&json!({}));
        let refused = request.send().await.expect_error(403, "ADMIN_REQUIRED");
        assert_eq!(refused.data(), &Value::Null, "{method} {path}");
    }
    for (method, path) in &user_ops {
        let answer = gw.call(method.clone(), path).key(&user).json(&json!({})).send().await;
        assert!(
            answer.status != 403 && !answer.status.is_server_error(),
            "{method} {path}: {}",
            answer.body
        );
    }
    println!("user operations tried with the user key: {}", user_ops.len());
    // Nothing changed, and the user's own view names no key but its own role.
    let keys = gw.get("/api/keys").send().await.expect(200);
    assert_eq!(keys.data().as_array().map(Vec::len), Some(2));
    let status = gw.call(Method::GET, "/api/status").key(&user).send().await.expect(200);
    assert_eq!(status.data()["keyRole"], "user");
    assert!(
        !status.body.to_string().contains(admin_id),
        "the status shows another key"
    );
    assert_eq!(status.data()["connection"]["state"], "connected", "logout was refused");
}

fn header(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn preflight(gw: &Gateway, origin: &str, method: &str) -> reqwest::Response {
    gw.http()
        .request(Method::OPTIONS, gw.url("/api/messages"))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", "x-api-key, content-type")
        .send()
        .await
        .expect("answer")
}

#[tokio::test]
async fn cors_stays_closed_unless_an_origin_is_configured() {
    const APP: &str = "https://app.example.com";
    const EVIL: &str = "https://evil.example";
    let closed = Gateway::start(Setup::new()).await;
    let simple = closed.get("/api/status").header("origin", APP).raw().await;
    let pre = preflight(&closed, APP, "POST").await;
    for resp in [&simple, &pre] {
        assert_eq!(header(resp, "access-control-allow-origin"), None);
        assert_eq!(header(resp, "access-control-allow-credentials"), None);
    }
    assert!(
        !pre.status().is_success(),
        "a preflight is not granted: {}",
        pre.status()
    );

    let open = Gateway::start(Setup::new().set("server.cors_origins", [APP])).await;
    let pre = preflight(&open, APP, "POST").await;
    assert_eq!(
        header(&pre, "access-control-allow-origin").as_deref(),
        Some(APP),
        "never *"
    );
    assert_eq!(
        header(&pre, "access-control-allow-credentials"),
        None,
        "no cookies cross-origin"
    );
    let methods = header(&pre, "access-control-allow-methods").unwrap_or_default();
    assert!(!methods.contains("PUT") && !methods.contains("PATCH"), "{methods}");
    assert!(
        header(&pre, "vary")
            .unwrap_or_default()
            .to_lowercase()
            .contains("origin")
    );
    for resp in [
        preflight(&open, EVIL, "POST").await,
        open.get("/api/status").header("origin", EVIL).raw().await,
        open.get("/api/status")
            .header("origin", "https://app.example.com.evil.example")
            .raw()
            .await,
        open.get("/api/status")
            .header("origin", "http://app.example.com")
            .raw()
            .await,
    ] {
        assert_eq!(header(&resp, "access-control-allow-origin"), None, "{}", resp.url());
    }
    let granted = open.get("/api/status").header("origin", APP).raw().await;
    assert_eq!(header(&granted, "access-control-allow-origin").as_deref(), Some(APP));
}

#[tokio::test]
async fn every_page_asset_and_answer_carries_the_security_headers() {
    let gw = Gateway::start(Setup::new()).await;
    let page_csp = [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ];
    for path in [
        "/",
        "/dashboard/main.js",
        "/dashboard/app.css",
        "/dashboard/examples/send-text.sh",
        "/dashboard/nope.js",
        "/docs/",
        "/healthz",
        "/metrics",
        "/api/status",
        "/api/nope",
        "/nope",
    ] {
        let resp = gw.get(path).raw().await;
        let get = |name: &str| header(&resp, name).unwrap_or_else(|| panic!("{path}: no {name}"));
        assert_eq!(get("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(get("referrer-policy"), "no-referrer", "{path}");
        assert_eq!(get("x-frame-options"), "DENY", "{path}");
        if path == "/" || (path.starts_with("/dashboard/") && resp.status() == 200) {
            let csp = get("content-security-policy");
            for directive in page_csp {
                assert!(csp.contains(directive), "{path}: CSP lacks {directive}: {csp}");
            }
            assert!(!csp.contains("unsafe-") && !csp.contains('*'), "{path}: {csp}");
        }
        if path.starts_with("/api/") {
            assert_eq!(get("cache-control"), "no-store", "{path}");
            let csp = get("content-security-policy");
            assert!(
                csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
                "{csp}"
            );
        }
        println!("{path}: {} with the security headers", resp.status());
    }
}

async fn upload(gw: &Gateway, size: usize, caption: &str) -> Answer {
    let file = Part::bytes(vec![7u8; size])
        .file_name("f.bin")
        .mime_str("application/octet-stream")
        .unwrap();
    let form = Form::new()
        .text("to", TO)
        .text("caption", caption.to_string())
        .part("file", file);
    gw.admin(Method::POST, "/api/messages/media")
        .multipart(form)
        .send()
        .await
}

#[tokio::test]
async fn request_size_limits_are_enforced_with_the_envelope() {
    let gw = Gateway::start(
        Setup::new()
            .set("limits.max_body", "64KB")
            .set("limits.max_upload", "2KB")
            .set("limits.max_batch", 3)
            .set("limits.max_text", 20),
    )
    .await;
    // max_body: a body past it is 413 whatever it holds; one under it is read.
    let padded = |n: usize| json!({ "to": TO, "text": "ok", "vars": { "pad": "x".repeat(n) } });
    let over = gw
        .post("/api/messages", padded(65_000))
        .send()
        .await
        .expect_error(413, "UPLOAD_ERROR");
    assert!(
        over.body["error"].as_str().unwrap().contains("limits.max_body"),
        "{}",
        over.body
    );
    let under = gw.post("/api/messages", padded(60_000)).send().await;
    assert_ne!(under.status, 413, "{}", under.body);
    gw.post("/api/numbers/check", json!({ "numbers": vec![TO; 5_000] }))
        .send()
        .await
        .expect_error(413, "UPLOAD_ERROR");

    // max_upload.
    let big = upload(&gw, 2_001, "").await.expect_error(413, "UPLOAD_ERROR");
    assert!(big.body["error"].as_str().unwrap().contains("limit"), "{}", big.body);
    upload(&gw, 2_000, "").await.accepted();

    // max_text: texts, captions and batch items.
    let text = |n: usize| json!({ "to": TO, "text": "x".repeat(n) });
    let long = gw
        .post("/api/messages", text(21))
        .send()
        .await
        .expect_error(422, "VALIDATION_ERROR");
    assert_eq!(long.detail_fields(), ["text"]);
    gw.send_text(&gw.admin, TO, &"x".repeat(20)).await.accepted();
    let caption = upload(&gw, 10, &"c".repeat(21))
        .await
        .expect_error(422, "VALIDATION_ERROR");
    assert_eq!(caption.detail_fields(), ["caption"]);

    // max_batch, and a long text inside a batch refuses that item only.
    let four = gw
        .batch(json!([text(1), text(1), text(1), text(1)]))
        .await
        .expect_error(422, "VALIDATION_ERROR");
    assert_eq!(four.detail_fields(), ["items"]);
    let three = gw.batch(json!([text(1), text(21), text(20)])).await.expect(200);
    assert_eq!(
        (three.data()["queued"].as_u64(), three.data()["refused"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(three.data()["items"][1]["code"], "VALIDATION_ERROR");
    println!("limits: max_body 64KB → 413, max_upload 2KB → 413, max_text 20 → 422, max_batch 3 → 422");
}
