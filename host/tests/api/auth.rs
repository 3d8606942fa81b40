//! Keys exactly as PRODUCT.md §2 says: two ways to present one, one 401 for every bad key, 403 for
//! a user key on admin endpoints, a secret shown once and never stored, revocation effective at
//! once, never the last admin key, last use kept to the minute.

use chrono::{DateTime, Timelike, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use wapi::auth::ApiKey;

use crate::support::{Call, Gateway, Key, eventually};

/// The admin key with its secret's last character changed: known id, wrong secret.
fn wrong_secret(key: &str) -> String {
    let (head, last) = key.split_at(key.len() - 1);
    format!("{head}{}", if last == "A" { "B" } else { "A" })
}

async fn assert_unauthorized(call: Call, why: &str) {
    let answer = call.send().await;
    assert_eq!(
        (answer.status.as_u16(), answer.code()),
        (401, "UNAUTHORIZED"),
        "{why}: {}",
        answer.text
    );
    assert!(
        answer.header("www-authenticate").starts_with("Bearer"),
        "{why}: WWW-Authenticate"
    );
}

#[tokio::test]
async fn x_api_key_and_bearer_both_work() {
    let gw = Gateway::start(&[]).await;
    for call in [
        gw.call(Method::GET, "/api/status").key(&gw.admin),
        gw.call(Method::GET, "/api/status").bearer(&gw.admin),
        gw.call(Method::GET, "/api/status")
            .header("authorization", &format!("bearer {}", gw.admin)),
    ] {
        assert_eq!(call.send().await.expect(200).data()["keyRole"], "admin");
    }
    gw.stop().await;
}

#[tokio::test]
async fn every_bad_key_is_401_with_www_authenticate() {
    let gw = Gateway::start(&[]).await;
    let user = gw.create_key("user").await;
    let revoked = gw.create_key("user").await;
    gw.admin(Method::DELETE, &format!("/api/keys/{}", revoked.id))
        .send()
        .await
        .expect(200);
    let status = || gw.call(Method::GET, "/api/status");
    assert_unauthorized(status(), "no key").await;
    assert_unauthorized(status().key(""), "empty X-API-Key").await;
    assert_unauthorized(status().key("wapi_short_key"), "malformed key").await;
    assert_unauthorized(status().bearer("not-a-key-at-all"), "malformed bearer").await;
    assert_unauthorized(status().key(ApiKey::generate().expose()), "well-formed unknown key").await;
    assert_unauthorized(status().key(&wrong_secret(&gw.admin)), "wrong secret for a known id").await;
    assert_unauthorized(status().key(&revoked.secret), "revoked key").await;
    assert_unauthorized(status().key(&gw.admin).bearer(&user.secret), "two different valid keys").await;
    assert_unauthorized(
        status().header("authorization", &format!("Basic {}", gw.admin)),
        "Basic scheme",
    )
    .await;
    for name in ["api_key", "apiKey", "key", "access_token", "token", "x-api-key"] {
        let path = format!("/api/status?{name}={}", gw.admin);
        assert_unauthorized(
            gw.call(Method::GET, &path),
            &format!("key in the query string as {name}"),
        )
        .await;
    }
    // 401 before anything else: a send or an admin call without a key does nothing.
    let send = gw
        .call(Method::POST, "/api/messages")
        .json(&json!({"to": "923001234567", "text": "hi"}));
    assert_unauthorized(send, "send without key").await;
    assert_unauthorized(
        gw.call(Method::GET, "/api/keys").key(&revoked.secret),
        "revoked key on admin endpoint",
    )
    .await;
    assert_eq!(gw.status().await["pendingMessages"], 0);
    gw.stop().await;
}

#[tokio::test]
async fn user_keys_get_403_on_admin_endpoints() {
    let gw = Gateway::start(&[]).await;
    let user = gw.create_key("user").await;
    let admin_id = ApiKey::parse(&gw.admin).unwrap().id().to_string();
    for (method, path, body) in [
        (Method::GET, "/api/keys".to_string(), None),
        (
            Method::POST,
            "/api/keys".to_string(),
            Some(json!({"name": "mine now", "role": "admin"})),
        ),
        (Method::DELETE, format!("/api/keys/{admin_id}"), None),
        (Method::DELETE, format!("/api/keys/{}", user.id), None),
        (
            Method::POST,
            "/api/simulator".to_string(),
            Some(json!({"action": "logout"})),
        ),
    ] {
        let mut call = gw.call(method, &path).key(&user.secret);
        if let Some(body) = &body {
            call = call.json(body);
        }
        let answer = call.send().await.expect_error(403, "ADMIN_REQUIRED");
        assert_eq!(answer.data(), &Value::Null);
    }
    // Nothing changed: both keys still work, still two keys, still connected.
    let keys = gw.admin(Method::GET, "/api/keys").send().await.expect(200);
    assert_eq!(keys.data().as_array().unwrap().len(), 2);
    assert!(keys.data().as_array().unwrap().iter().all(|k| k["status"] == "active"));
    let status = gw.status_as(&user.secret).await.expect(200);
    assert_eq!(status.data()["keyRole"], "user");
    assert_eq!(status.data()["connection"]["state"], "connected");
    gw.stop().await;
}

#[tokio::test]
async fn a_created_secret_is_shown_once_and_never_stored() {
    let gw = Gateway::start(&[]).await;
    let created = gw
        .admin(Method::POST, "/api/keys")
        .json(&json!({"name": "billing", "role": "user"}))
        .send()
        .await
        .expect(201);
    assert_eq!(created.header("cache-control"), "no-store");
    let data = created.data();
    let secret = data["secret"].as_str().expect("secret").to_string();
    let key = ApiKey::parse(&secret).unwrap_or_else(|| panic!("{secret:?} is not a wapi key"));
    assert_eq!(data["id"], key.id());
    assert_eq!(data["prefix"], format!("wapi_{}_", key.id()));
    assert_eq!(
        (data["name"].as_str(), data["role"].as_str(), data["status"].as_str()),
        (Some("billing"), Some("user"), Some("active"))
    );
    // The secret works…
    gw.status_as(&secret).await.expect(200);
    // …and is never shown again, nor stored.
    let secret_part = &secret[14..];
    for _ in 0..2 {
        let listing = gw.admin(Method::GET, "/api/keys").send().await.expect(200);
        assert!(listing.text.contains(key.id()), "the key is listed: {}", listing.text);
        assert!(
            !listing.text.contains(secret_part),
            "a listing shows the secret: {}",
            listing.text
        );
        assert!(
            listing
                .data()
                .as_array()
                .unwrap()
                .iter()
                .all(|k| k.get("secret").is_none())
        );
    }
    let admin_secret = gw.admin[14..].to_string();
    let files = gw.database_bytes();
    let holding = |needle: &str| -> Vec<String> {
        let found = |bytes: &Vec<u8>| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
        files
            .iter()
            .filter(|(_, bytes)| found(bytes))
            .map(|(path, _)| path.display().to_string())
            .collect()
    };
    // The search sees the key's row (its name is stored in clear)…
    assert!(
        !holding("billing").is_empty(),
        "the key's row is in none of {:?}",
        files.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    // …and no secret beside it.
    for needle in [secret_part, admin_secret.as_str()] {
        assert_eq!(holding(needle), Vec::<String>::new(), "these files hold a key's secret");
    }
    gw.stop().await;
}

#[tokio::test]
async fn revocation_counts_on_the_very_next_request() {
    let gw = Gateway::start(&[]).await;
    let user = gw.create_key("user").await;
    gw.status_as(&user.secret).await.expect(200);
    let revoked = gw
        .admin(Method::DELETE, &format!("/api/keys/{}", user.id))
        .send()
        .await
        .expect(200);
    assert_eq!(revoked.data()["status"], "revoked");
    assert!(revoked.data()["revokedAt"].is_string());
    assert_unauthorized(gw.call(Method::GET, "/api/status").key(&user.secret), "just revoked").await;
    assert_unauthorized(
        gw.call(Method::GET, "/api/status").bearer(&user.secret),
        "just revoked, as bearer",
    )
    .await;
    gw.admin(Method::DELETE, "/api/keys/nosuchid")
        .send()
        .await
        .expect_error(404, "NOT_FOUND");
    let listed = gw.admin(Method::GET, "/api/keys").send().await.expect(200);
    let row = listed
        .data()
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == user.id.as_str())
        .cloned()
        .expect("still listed");
    assert_eq!(row["status"], "revoked");
    gw.stop().await;
}

#[tokio::test]
async fn the_last_active_admin_key_cannot_be_revoked() {
    let gw = Gateway::start(&[]).await;
    let first_id = ApiKey::parse(&gw.admin).unwrap().id().to_string();
    gw.admin(Method::DELETE, &format!("/api/keys/{first_id}"))
        .send()
        .await
        .expect_error(409, "CONFLICT");
    let second = gw.create_key("admin").await;
    gw.call(Method::DELETE, &format!("/api/keys/{first_id}"))
        .key(&second.secret)
        .send()
        .await
        .expect(200);
    let last = gw
        .call(Method::DELETE, &format!("/api/keys/{}", second.id))
        .key(&second.secret)
        .send()
        .await;
    last.expect_error(409, "CONFLICT");
    // A user key does not count as an admin.
    gw.create_key_with(&second.secret, "user").await;
    gw.call(Method::DELETE, &format!("/api/keys/{}", second.id))
        .key(&second.secret)
        .send()
        .await
        .expect_error(409, "CONFLICT");
    gw.call(Method::GET, "/api/keys")
        .key(&second.secret)
        .send()
        .await
        .expect(200);
    gw.stop().await;
}

/// Two admins revoking each other at the same moment: one may win, never both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_revocations_never_remove_the_last_admin() {
    let gw = Gateway::start(&[]).await;
    let mut survivor = Key {
        id: ApiKey::parse(&gw.admin).unwrap().id().to_string(),
        secret: gw.admin.clone(),
    };
    for round in 0..20 {
        let other = gw.create_key_with(&survivor.secret, "admin").await;
        let revoke = |by: &Key, target: &Key| {
            gw.call(Method::DELETE, &format!("/api/keys/{}", target.id))
                .key(&by.secret)
                .send()
        };
        let (first, second) = tokio::join!(revoke(&survivor, &other), revoke(&other, &survivor));
        let both = first.status == 200 && second.status == 200;
        assert!(
            !both,
            "round {round}: both admin keys revoked; no admin key is left:\n{}\n{}",
            first.text, second.text
        );
        if second.status == 200 {
            survivor = other;
        }
        gw.call(Method::GET, "/api/keys")
            .key(&survivor.secret)
            .send()
            .await
            .expect(200);
    }
    gw.stop().await;
}

#[tokio::test]
async fn last_use_is_kept_to_the_minute() {
    let gw = Gateway::start(&[]).await;
    let user = gw.create_key("user").await;
    let listed = |gw: &Gateway| {
        let id = user.id.clone();
        let call = gw.admin(Method::GET, "/api/keys");
        async move {
            let keys = call.send().await.expect(200);
            keys.data()
                .as_array()
                .unwrap()
                .iter()
                .find(|k| k["id"] == id.as_str())
                .cloned()
                .expect("listed")
        }
    };
    assert_eq!(listed(&gw).await["lastUsedAt"], Value::Null, "never used yet");
    let before = Utc::now();
    gw.status_as(&user.secret).await.expect(200);
    let used = eventually("lastUsedAt to be recorded", || async {
        listed(&gw).await["lastUsedAt"].as_str().map(str::to_string)
    })
    .await;
    let at: DateTime<Utc> = used.parse().unwrap_or_else(|e| panic!("{used:?}: {e}"));
    assert_eq!((at.second(), at.nanosecond()), (0, 0), "{used} is not a whole minute");
    let minute_before = before.with_second(0).unwrap().with_nanosecond(0).unwrap();
    assert!(
        at >= minute_before && at <= Utc::now(),
        "{used} is not the minute of use ({before})"
    );
    gw.stop().await;
}
