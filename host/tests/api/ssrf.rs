//! Webhook SSRF through names: a name that is not local-looking but resolves to loopback — as
//! `127.0.0.1`, `::ffff:127.0.0.1` (IPv4-mapped), `::1`, `0.0.0.0` or a NAT64 loopback — is
//! refused at every attempt and dead-lettered with the reason, and the receiver listening on
//! that very address never gets a connection. The gateway runs in process with a substituted
//! resolver (`StartOptions::webhook_resolver`; production keeps the system's); the same name is
//! delivered when the plugin's config allows private targets, which proves the resolver is the
//! one the worker used and that the policy, not a failed lookup, refused the others.
//! Literal loopback, private, link-local and IPv4-mapped URLs are refused when a delivery is
//! asked for (`webhooks.rs`).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wapi::app::{self, StartOptions};
use wapi::auth::ApiKey;
use wapi::clock::Clock;
use wapi::store::{DeliveryRecord, DeliveryState};
use wapi::webhooks::{Resolve, Resolver};

use crate::support::eventually;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Names mapped to addresses, as a hostile DNS server would answer; every lookup is counted.
#[derive(Clone, Default)]
struct FakeDns {
    names: Arc<HashMap<String, Vec<IpAddr>>>,
    lookups: Arc<Mutex<HashMap<String, usize>>>,
}

impl Resolve for FakeDns {
    fn resolve<'a>(&'a self, name: &'a str, port: u16) -> BoxFuture<'a, io::Result<Vec<SocketAddr>>> {
        *self.lookups.lock().unwrap().entry(name.to_string()).or_default() += 1;
        let found = self
            .names
            .get(name)
            .map(|ips| ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect());
        Box::pin(async move { found.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such name")) })
    }
}

/// A receiver on 127.0.0.1 that counts connections and answers every request 204.
struct Receiver {
    port: u16,
    connections: Arc<AtomicUsize>,
    hosts: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let receiver = Self {
            port: listener.local_addr().expect("address").port(),
            connections: Arc::default(),
            hosts: Arc::default(),
        };
        let (connections, hosts) = (receiver.connections.clone(), receiver.hosts.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                connections.fetch_add(1, Ordering::SeqCst);
                let hosts = hosts.clone();
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&seen).to_string();
                    let host = head
                        .lines()
                        .find_map(|l| l.strip_prefix("host: ").or_else(|| l.strip_prefix("Host: ")))
                        .unwrap_or_default();
                    hosts.lock().unwrap().push(host.to_string());
                    let _ = stream
                        .write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
                        .await;
                });
            }
        });
        receiver
    }
}

#[tokio::test]
async fn names_that_resolve_to_loopback_are_refused_and_never_connected_to() {
    let receiver = Receiver::start().await;
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let cases = [
        ("evil.example.test", vec![ip("127.0.0.1")], "loopback"),
        (
            "mapped.example.test",
            vec![ip("::ffff:127.0.0.1")],
            "IPv4-mapped loopback",
        ),
        ("six.example.test", vec![ip("::1")], "loopback"),
        ("zero.example.test", vec![ip("0.0.0.0")], "unspecified"),
        ("nat64.example.test", vec![ip("64:ff9b::7f00:1")], "NAT64 loopback"),
        // One special record among others refuses the name.
        (
            "many.example.test",
            vec![ip("127.0.0.2"), ip("::ffff:127.0.0.1")],
            "loopback",
        ),
    ];
    let dns = FakeDns {
        names: Arc::new(cases.iter().map(|(n, ips, _)| (n.to_string(), ips.clone())).collect()),
        lookups: Arc::default(),
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        r#"
[server]
listen = "127.0.0.1:0"
[storage]
path = "data/wapi.db"
[whatsapp]
backend = "simulator"
[webhooks]
retry_schedule = ["10ms"]
timeout = "2s"
[plugins]
dir = "plugins.d"
[plugins.strict]
secret = "{SECRET}"
[plugins.open]
secret = "{SECRET}"
allow_private = true
"#
    );
    let config = wapi::config::from_toml(&text, dir.path()).expect("config");
    let options = StartOptions {
        admin_key: Some(ApiKey::generate()),
        webhook_resolver: Resolver::new(dns.clone()),
    };
    let running = app::start(config, Clock::system(), options).await.expect("starts");
    let webhooks = running.app.webhooks().clone();
    let settle = |id: String| {
        let webhooks = webhooks.clone();
        async move {
            eventually(&format!("delivery {id} settles"), || async {
                let d: DeliveryRecord = webhooks.delivery(&id).await.expect("store").expect("the delivery");
                (d.state != DeliveryState::Pending).then_some(d)
            })
            .await
        }
    };

    for (name, _, why) in &cases {
        let url = format!("http://{name}:{}/hook", receiver.port);
        let id = webhooks
            .deliver("strict", &url, "{}", None)
            .await
            .unwrap_or_else(|e| panic!("{name} passes the name check and is accepted: {e}"));
        let d = settle(id).await;
        let error = d.last_error.clone().unwrap_or_default();
        println!("{name}: {:?} after {} attempts: {error}", d.state, d.attempts);
        assert_eq!(
            (d.state, d.attempts, d.last_status),
            (DeliveryState::Failed, 2, None),
            "{name}"
        );
        assert!(error.contains(name) && error.contains(why), "{name}: {error}");
        assert_eq!(
            dns.lookups.lock().unwrap()[*name],
            2,
            "{name}: resolved once per attempt"
        );
    }
    assert_eq!(
        receiver.connections.load(Ordering::SeqCst),
        0,
        "a refused name reached the receiver"
    );

    // The same name, for a plugin allowed private targets, is delivered through the same resolver.
    let url = format!("http://evil.example.test:{}/hook", receiver.port);
    let d = settle(webhooks.deliver("open", &url, "{}", None).await.expect("accepted")).await;
    assert_eq!((d.state, d.last_status), (DeliveryState::Delivered, Some(204)), "{d:?}");
    assert_eq!(receiver.connections.load(Ordering::SeqCst), 1);
    assert_eq!(
        *receiver.hosts.lock().unwrap(),
        [format!("evil.example.test:{}", receiver.port)]
    );
    println!(
        "refused names: {}, connections to the receiver from them: 0; the allowed one: delivered",
        cases.len()
    );
    tokio::time::timeout(Duration::from_secs(20), running.stop())
        .await
        .expect("stops");
}
