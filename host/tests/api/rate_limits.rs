//! Per-key budgets: sends (and number checks) and reads counted apart, 429 with `Retry-After` and
//! the IETF `RateLimit` / `RateLimit-Policy` headers, a budget per key, 401s free.

use reqwest::Method;
use serde_json::json;

use crate::support::{Answer, Gateway, ON_WHATSAPP};

const SENDS: u32 = 3;
const READS: u32 = 5;
const WINDOW_SECS: u32 = 900;

async fn gateway() -> Gateway {
    Gateway::start(&[
        ("limits.requests_per_window", &SENDS.to_string()),
        ("limits.reads_per_window", &READS.to_string()),
        ("limits.window", "\"15m\""),
    ])
    .await
}

/// Asserts the headers of an answer charged to `budget` with `remaining` requests left.
fn assert_budget(answer: &Answer, budget: &str, quota: u32, remaining: u32) {
    assert_eq!(
        answer.header("ratelimit-policy"),
        format!("\"{budget}\";q={quota};w={WINDOW_SECS}"),
        "{}",
        answer.what
    );
    let state = answer.header("ratelimit");
    assert!(
        state.starts_with(&format!("\"{budget}\";r={remaining};t=")),
        "{}: RateLimit {state:?}",
        answer.what
    );
}

/// Asserts a 429 for `budget`, with a whole-seconds `Retry-After` of at least 1.
fn assert_limited(answer: Answer, budget: &str, quota: u32) {
    let answer = answer.expect_error(429, "RATE_LIMITED");
    let retry: u64 = answer
        .header("retry-after")
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After {:?}", answer.header("retry-after")));
    assert!(retry >= 1, "Retry-After {retry}");
    assert_eq!(answer.data()["retryAfter"], retry, "data.retryAfter matches the header");
    assert_budget(&answer, budget, quota, 0);
}

#[tokio::test]
async fn sends_and_reads_have_separate_budgets_per_key() {
    let gw = gateway().await;
    let user = gw.create_key("user").await;
    // 401s with the user's id but a wrong secret cost the user nothing.
    let forged = format!("{}{}", &user.secret[..14], "A".repeat(32));
    for _ in 0..SENDS + READS {
        gw.send_text(&forged, ON_WHATSAPP, "forged")
            .await
            .expect_error(401, "UNAUTHORIZED");
        gw.status_as(&forged).await.expect_error(401, "UNAUTHORIZED");
    }
    for i in 0..SENDS {
        let sent = gw.send_text(&user.secret, ON_WHATSAPP, &format!("hello {i}")).await;
        assert!(sent.status.is_success(), "{}", sent.text);
        assert_budget(&sent, "send", SENDS, SENDS - 1 - i);
    }
    assert_limited(
        gw.send_text(&user.secret, ON_WHATSAPP, "one too many").await,
        "send",
        SENDS,
    );
    // Reads still pass, on their own budget, until it is spent too.
    for i in 0..READS {
        let read = gw
            .call(Method::GET, "/api/messages")
            .key(&user.secret)
            .send()
            .await
            .expect(200);
        assert_budget(&read, "read", READS, READS - 1 - i);
    }
    assert_limited(gw.status_as(&user.secret).await, "read", READS);
    // The admin key has budgets of its own (it spent one read creating the user key).
    let admin_send = gw.send_text(&gw.admin, ON_WHATSAPP, "from the admin").await;
    assert!(admin_send.status.is_success(), "{}", admin_send.text);
    assert_budget(&admin_send, "send", SENDS, SENDS - 1);
    assert_budget(
        &gw.admin(Method::GET, "/api/status").send().await.expect(200),
        "read",
        READS,
        READS - 2,
    );
    gw.stop().await;
}

#[tokio::test]
async fn number_checks_count_against_the_send_budget() {
    let gw = gateway().await;
    let user = gw.create_key("user").await;
    let check = || {
        gw.call(Method::POST, "/api/numbers/check")
            .key(&user.secret)
            .json(&json!({"numbers": [ON_WHATSAPP]}))
    };
    for i in 0..SENDS {
        let answer = check().send().await.expect(200);
        assert_eq!(answer.data()["results"][0]["onWhatsapp"], true);
        assert_budget(&answer, "send", SENDS, SENDS - 1 - i);
    }
    assert_limited(
        gw.send_text(&user.secret, ON_WHATSAPP, "no budget left").await,
        "send",
        SENDS,
    );
    assert_limited(check().send().await, "send", SENDS);
    gw.status_as(&user.secret).await.expect(200);
    gw.stop().await;
}
