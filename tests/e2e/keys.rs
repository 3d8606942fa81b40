//! Keys and configuration through the real binary: `wapi keys create|list|revoke` beside a
//! running server, both ways of presenting a key, roles, the first start's `admin-key.txt`, and
//! a bad configuration stopping the start with the key named.

use std::os::unix::fs::PermissionsExt;

use reqwest::Method;

use crate::{Gateway, Setup};

fn stdout(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "wapi failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn cli_keys_work_with_the_running_server_and_revocation_is_immediate() {
    let gw = Gateway::start(Setup::new()).await;
    let key = stdout(&gw.cli(&["keys", "create", "--name", "x", "--role", "user"]).await)
        .trim()
        .to_string();
    assert!(
        key.starts_with("wapi_") && key.len() == 46,
        "a key on stdout, not {key:?}"
    );
    let id = key[5..13].to_string();

    let by_header = gw.status_as(&key).await.expect(200);
    assert_eq!(by_header.data()["keyRole"], "user");
    assert_eq!(
        gw.call(Method::GET, "/api/status")
            .bearer(&key)
            .send()
            .await
            .expect(200)
            .data()["keyRole"],
        "user"
    );
    gw.call(Method::GET, "/api/keys")
        .key(&key)
        .send()
        .await
        .expect_error(403, "ADMIN_REQUIRED");
    gw.call(Method::GET, "/api/status")
        .send()
        .await
        .expect_error(401, "UNAUTHORIZED");
    let wrong_secret = format!("{}{}", &key[..14], "A".repeat(32));
    gw.status_as(&wrong_secret).await.expect_error(401, "UNAUTHORIZED");

    let list = stdout(&gw.cli(&["keys", "list"]).await);
    let line = list
        .lines()
        .find(|l| l.contains(&id))
        .unwrap_or_else(|| panic!("keys list lacks {id}:\n{list}"));
    assert!(
        line.contains("user") && line.contains("active") && line.ends_with('x'),
        "{line}"
    );
    assert!(!list.contains(&key[14..]), "a secret is never shown again");

    stdout(&gw.cli(&["keys", "revoke", &id]).await);
    gw.status_as(&key).await.expect_error(401, "UNAUTHORIZED");
    gw.call(Method::GET, "/api/status")
        .bearer(&key)
        .send()
        .await
        .expect_error(401, "UNAUTHORIZED");
    let listed = stdout(&gw.cli(&["keys", "list"]).await);
    assert!(
        listed.lines().any(|l| l.contains(&id) && l.contains("revoked")),
        "{listed}"
    );
    let unknown = gw.cli(&["keys", "revoke", "NoSuchId"]).await;
    assert!(!unknown.status.success(), "revoking an unknown key fails");
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("NoSuchId"));
    let keys = gw.get("/api/keys").send().await.expect(200);
    let row = keys
        .data()
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .cloned()
        .expect("key in the API list");
    assert_eq!(row["status"], "revoked");
}

#[tokio::test]
async fn first_start_without_admin_key_writes_a_private_admin_key_file() {
    let mut gw = Gateway::start(Setup::new().without_admin_key()).await;
    let file = gw.admin_key_file();
    let mode = std::fs::metadata(&file)
        .expect("admin-key.txt beside the database")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "admin-key.txt is private");
    let key = gw.admin.clone();
    assert!(key.starts_with("wapi_") && key.len() == 46, "{key:?}");
    let logs = gw.logs();
    assert!(
        !logs.contains(&key) && logs.contains("admin-key.txt"),
        "output that is not a terminal gets the file's path, never the key: {logs}"
    );
    assert_eq!(gw.status_as(&key).await.expect(200).data()["keyRole"], "admin");
    gw.get("/api/keys").send().await.expect(200);

    gw.terminate().await;
    gw.restart().await;
    assert_eq!(
        std::fs::read_to_string(&file).unwrap().trim(),
        key,
        "a later start keeps the first key"
    );
    gw.status_as(&key).await.expect(200);
    assert_eq!(
        gw.logs().matches(&key).count(),
        0,
        "the key is never printed where no person reads it, on the first start or later"
    );
}

#[tokio::test]
async fn bad_configuration_stops_the_start_and_names_the_key() {
    let cases = [
        (Setup::new().set("antiban.min_gap", "abc"), "antiban.min_gap"),
        (Setup::new().set("antiban.min_gapp", "1s"), "min_gapp"),
        (Setup::new().env("WAPI_ANTIBAN__MAX_GAP", "soon"), "antiban.max_gap"),
        (
            Setup::new().set("antiban.min_gap", "2s").set("antiban.max_gap", "1s"),
            "antiban.max_gap",
        ),
        (
            Setup::new().set("whatsapp.backend", "carrier-pigeon"),
            "whatsapp.backend",
        ),
        (
            Setup::new()
                .set("server.tls_cert", "missing.pem")
                .set("server.tls_key", "missing.pem"),
            "server.tls_cert",
        ),
    ];
    for (setup, key) in cases {
        let output = Gateway::refused(setup).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "a bad config ({key}) must stop the start");
        assert!(stderr.contains(key), "the error names {key}: {stderr}");
    }
}
