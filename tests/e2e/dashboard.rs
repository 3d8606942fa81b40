//! The dashboard (PRODUCT.md §6): the page and its files come from the binary with their
//! security headers (checked here over HTTP), and the page works in a real browser — headless
//! Debian Chromium driven by the node tests in `tests/dashboard/` (playwright-core) against two
//! real gateways, one linked and one showing a QR code. Screenshots of the main states are left
//! in `<target>/dashboard-screenshots/`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use reqwest::Method;

use crate::{Gateway, Setup};

const CHROMIUM: &str = "/usr/bin/chromium";
/// A number the linked gateway's simulator reports as not on WhatsApp.
const NOT_ON_WHATSAPP: &str = "15550001111";
const PUBLIC_URL: &str = "https://wa.example.com";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

#[tokio::test]
async fn the_page_and_its_files_come_from_the_binary_with_security_headers() {
    let gw = Gateway::start(Setup::new()).await;
    let page = gw.call(Method::GET, "/").raw().await;
    assert_eq!(page.status(), 200);
    let header = |name: &str| {
        page.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("the page has no {name} header"))
            .to_string()
    };
    assert!(header("content-type").starts_with("text/html"));
    let csp = header("content-security-policy");
    for directive in [
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "img-src 'self' data: blob:",
    ] {
        assert!(csp.contains(directive), "CSP lacks {directive}: {csp}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("referrer-policy"), "no-referrer");
    assert_eq!(header("x-frame-options"), "DENY");
    let etag = header("etag");
    let html = page.text().await.expect("the page");
    assert!(html.contains("Starting WhatsApp session…") && html.contains("Hold on, preparing your QR code."));
    assert!(html.contains(r#"<script type="module" src="/dashboard/main.js"></script>"#));

    let again = gw.call(Method::GET, "/").header("if-none-match", &etag).raw().await;
    assert_eq!(again.status(), 304, "a matching ETag answers 304");

    for module in ["main.js", "api.js", "dom.js", "format.js", "queue.js", "docs.js"] {
        let response = gw.call(Method::GET, &format!("/dashboard/{module}")).raw().await;
        assert_eq!(response.status(), 200, "{module}");
        let kind = response.headers()["content-type"].to_str().unwrap().to_string();
        assert!(kind.starts_with("text/javascript"), "{module}: {kind}");
    }
    for example in ["send-text.sh", "send-text.mjs", "send_text.py", "send-text.php"] {
        let served = gw
            .call(Method::GET, &format!("/dashboard/examples/{example}"))
            .raw()
            .await;
        assert_eq!(served.status(), 200, "{example}");
        let text = served.text().await.expect("text");
        let file = std::fs::read_to_string(repo_root().join("clients/examples").join(example)).expect("the example");
        assert_eq!(text, file, "{example} is served as it is in clients/examples/");
        assert!(
            text.contains("http://localhost:8080") && text.contains("YOUR_API_KEY"),
            "{example}"
        );
    }
    let missing = gw.call(Method::GET, "/dashboard/nope.js").raw().await;
    assert_eq!(missing.status(), 404);

    // What the page reads from the status, beside what was there before.
    let status = gw.get("/api/status").send().await.expect(200);
    assert_eq!(status.data()["server"]["listen"], "127.0.0.1:0");
    assert_eq!(status.data()["server"]["tls"], false);
    assert_eq!(status.data()["limits"]["readsPerWindow"], 1_000_000);
    assert_eq!(status.data()["keyRole"], "admin");
    let api_csp = status.header("content-security-policy");
    assert!(
        api_csp.contains("default-src 'none'"),
        "an API answer may load nothing: {api_csp}"
    );
}

#[tokio::test]
async fn the_dashboard_works_in_headless_chromium() {
    let tests = repo_root().join("tests/dashboard");
    assert!(
        Path::new(CHROMIUM).exists() && tests.join("node_modules/playwright-core").exists(),
        "the browser tests need {CHROMIUM} and tests/dashboard/node_modules: `cargo xtask test` installs both"
    );
    let template = repo_root().join("plugins.d/template.wasm");
    let template = std::fs::read(&template).unwrap_or_else(|e| {
        panic!(
            "{}: {e} — `cargo xtask plugins` builds it (`cargo xtask test` does)",
            template.display()
        )
    });
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache");
    let linked = Gateway::start(
        Setup::new()
            .set("server.public_url", PUBLIC_URL)
            .set("whatsapp.simulator.not_on_whatsapp", [NOT_ON_WHATSAPP])
            .set("plugins.cache_dir", cache.display().to_string())
            .file("plugins.d/template.wasm", template)
            .file("plugins.d/broken.wasm", "not a WebAssembly component"),
    )
    .await;
    let unlinked = Gateway::start(Setup::new().set("whatsapp.simulator.auto_link", false)).await;
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target folder")
        .join("dashboard-screenshots");
    let _ = std::fs::remove_dir_all(&shots);

    let mut node = tokio::process::Command::new("node");
    node.args(["--test", "--test-reporter=spec"])
        .current_dir(&tests)
        .env("WAPI_DASHBOARD_URL", linked.url(""))
        .env("WAPI_DASHBOARD_QR_URL", unlinked.url(""))
        .env("WAPI_DASHBOARD_ADMIN_KEY", &linked.admin)
        .env("WAPI_DASHBOARD_PUBLIC_URL", PUBLIC_URL)
        .env("WAPI_DASHBOARD_NOT_ON_WHATSAPP", NOT_ON_WHATSAPP)
        .env("WAPI_DASHBOARD_SCREENSHOTS", &shots)
        .env("CHROMIUM", CHROMIUM)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(300), node.output())
        .await
        .expect("the browser tests finish within 5 minutes")
        .expect("running node --test");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "the browser tests failed:\n{report}");
    println!("{report}\nscreenshots: {}", shots.display());
}
