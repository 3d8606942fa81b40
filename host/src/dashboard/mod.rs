//! The dashboard (PRODUCT.md §6): the page at `/` and its assets — HTML, CSS, ES modules and the
//! code examples of `clients/examples/` — embedded in the binary and served with their content
//! type, an ETag and the page's Content-Security-Policy. The page holds no secret and no data: it
//! asks for an API key and calls the API like any other client.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::gateway::Gateway;

/// What the page may load: only its own files, the API on the same origin, and images it makes
/// itself (the QR code as a `blob:` URL). No inline script or style, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
                   connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

struct Asset {
    /// The path under `/dashboard/`.
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

macro_rules! asset {
    ($path:literal, $content_type:expr) => {
        Asset {
            path: $path,
            content_type: $content_type,
            body: include_bytes!(concat!("assets/", $path)),
        }
    };
    ($path:literal, $content_type:expr, $file:literal) => {
        Asset {
            path: $path,
            content_type: $content_type,
            body: include_bytes!($file),
        }
    };
}

const ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("app.css", CSS),
    asset!("main.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("format.js", JS),
    asset!("signin.js", JS),
    asset!("cards.js", JS),
    asset!("connection.js", JS),
    asset!("send.js", JS),
    asset!("queue.js", JS),
    asset!("docs.js", JS),
    asset!("keys.js", JS),
    asset!("plugins.js", JS),
    // The examples the docs show, with the viewer's base URL put in place of localhost:8080.
    asset!("examples/send-text.sh", TEXT, "../../../clients/examples/send-text.sh"),
    asset!(
        "examples/send-text.mjs",
        TEXT,
        "../../../clients/examples/send-text.mjs"
    ),
    asset!("examples/send_text.py", TEXT, "../../../clients/examples/send_text.py"),
    asset!(
        "examples/send-text.php",
        TEXT,
        "../../../clients/examples/send-text.php"
    ),
];

/// A strong ETag per asset: the first 16 bytes of its SHA-256, in hex.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| {
            let digest = Sha256::digest(a.body);
            let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
            format!("\"{hex}\"")
        })
        .collect()
});

/// `/` (the page) and `/dashboard/*` (what it loads).
pub fn routes() -> Router<Gateway> {
    Router::new()
        .route(
            "/",
            get(|headers: HeaderMap| async move { serve("index.html", &headers) }),
        )
        .route(
            "/dashboard/{*path}",
            get(|Path(path): Path<String>, headers: HeaderMap| async move { serve(&path, &headers) }),
        )
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(index) = ASSETS.iter().position(|a| a.path == path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (asset, etag) = (&ASSETS[index], ETAGS[index].as_str());
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim().trim_start_matches("W/") == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset.body.into_response()
    };
    let out = response.headers_mut();
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    out.insert(header::ETAG, HeaderValue::from_str(etag).expect("hex is ASCII"));
    // Revalidate every time: a new binary may serve new files under the same names.
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    out.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    out.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    out.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_page_imports_is_served() {
        let served = |p: &str| ASSETS.iter().any(|a| a.path == p);
        for asset in ASSETS.iter().filter(|a| a.content_type == JS || a.content_type == HTML) {
            let text = std::str::from_utf8(asset.body).expect("UTF-8");
            for part in text
                .split(['"', '\''])
                .filter(|p| p.ends_with(".js") || p.ends_with(".css"))
            {
                let path = part.trim_start_matches("./").trim_start_matches("/dashboard/");
                if !path.contains(' ') && !path.contains('/') {
                    assert!(served(path), "{} refers to {part}, which is not served", asset.path);
                }
            }
        }
    }

    #[test]
    fn no_inline_script_or_handler() {
        let html = std::str::from_utf8(ASSETS[0].body).expect("UTF-8").to_ascii_lowercase();
        for script in html.split("<script").skip(1) {
            let tag = script.split('>').next().unwrap_or("");
            assert!(tag.contains("src="), "inline script: <script{tag}>");
        }
        assert!(!html.contains(" onclick=") && !html.contains(" onload=") && !html.contains(" style="));
    }

    #[test]
    fn a_matching_etag_answers_not_modified() {
        let first = serve("app.css", &HeaderMap::new());
        assert_eq!(first.status(), StatusCode::OK);
        let etag = first.headers()[header::ETAG].clone();
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, etag);
        assert_eq!(serve("app.css", &headers).status(), StatusCode::NOT_MODIFIED);
        assert_eq!(serve("nope.js", &headers).status(), StatusCode::NOT_FOUND);
    }
}
