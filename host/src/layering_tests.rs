//! The layering rule, checked on the source: the domain never imports the HTTP layer, the
//! gateway handle or the wiring; the HTTP layer never imports the wiring; `http` does not know
//! the routes; domain types carry no OpenAPI derives (request and response types live in `api/`).

use std::collections::BTreeSet;
use std::path::Path;

const DOMAIN: &[&str] = &[
    "config", "clock", "auth", "limits", "send", "plugins", "accept", "store", "queue", "whatsapp", "inbox", "events",
    "webhooks",
];
const ABOVE_DOMAIN: &[&str] = &["gateway", "http", "api", "dashboard", "app", "cli"];

/// The top-level modules a file names through `crate::…`, grouped `crate::{…}` included.
fn imports(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            for part in inner.split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                found.insert(name);
            }
        } else {
            found.insert(rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect());
        }
    }
    found
}

/// Every `.rs` file of a module (a file or a folder), with its text.
fn files(module: &str) -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let mut stack = vec![src.join(format!("{module}.rs")), src.join(module)];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if path.extension().is_some_and(|e| e == "rs") && path.exists() {
            out.push((path.display().to_string(), std::fs::read_to_string(&path).unwrap()));
        }
    }
    assert!(!out.is_empty(), "module {module} has no files");
    out
}

fn offences(modules: &[&str], forbidden: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for module in modules {
        for (path, text) in files(module) {
            for name in imports(&text) {
                if forbidden.contains(&name.as_str()) && name != *module {
                    found.push(format!("{path} imports crate::{name}"));
                }
            }
        }
    }
    found
}

#[test]
fn the_domain_never_imports_the_http_layer_the_gateway_or_the_wiring() {
    let found = offences(DOMAIN, ABOVE_DOMAIN);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_http_layer_never_imports_the_wiring_and_http_never_the_routes() {
    let found = offences(&["gateway", "http", "api", "dashboard"], &["app", "cli"]);
    assert!(found.is_empty(), "{found:#?}");
    let found = offences(&["gateway"], &["http", "api", "dashboard"]);
    assert!(found.is_empty(), "{found:#?}");
    let found = offences(&["http"], &["api", "dashboard"]);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn domain_types_carry_no_openapi_derives() {
    let mut found = Vec::new();
    for module in DOMAIN {
        for (path, text) in files(module) {
            if text.contains("utoipa") || text.contains("ToSchema") {
                found.push(path);
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_import_reader_sees_grouped_and_nested_paths() {
    let text = "use crate::{http::ApiError, store};\nfn f() { crate::api::routes(); }";
    let names: Vec<String> = imports(text).into_iter().collect();
    assert_eq!(names, ["api", "http", "store"]);
}
