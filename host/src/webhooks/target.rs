//! The address policy for webhook targets: http(s) URLs only, and no loopback, private,
//! link-local or otherwise special address (nor a name that can only mean one) unless the
//! plugin's config says `allow_private = true`. Checked when a delivery is asked for, and again
//! on the addresses the host name resolves to at every attempt (DNS can change).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::Url;

/// Longest URL a plugin may ask to deliver to.
pub const MAX_URL: usize = 2048;

/// A URL that passed the policy.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: Url,
    pub host: TargetHost,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetHost {
    /// An address literal: connected to as is.
    Ip(IpAddr),
    /// A name: resolved once per attempt, every address checked, and only those connected to.
    Name(String),
}

/// Parses `text` and applies the policy to its scheme, credentials and host.
pub fn check_url(text: &str, allow_private: bool) -> Result<Target, String> {
    if text.len() > MAX_URL {
        return Err(format!("the URL is longer than {MAX_URL} characters"));
    }
    let url = Url::parse(text).map_err(|e| format!("the URL is not valid ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "the URL's scheme must be http or https, not {:?}",
            url.scheme()
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL must not carry credentials (user:password@)".into());
    }
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        return Err("the URL has no host".into());
    };
    let port = url.port_or_known_default().ok_or("the URL has no port")?;
    let literal = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let host = match literal.parse::<IpAddr>() {
        Ok(ip) => {
            check_address(ip, allow_private)?;
            TargetHost::Ip(ip)
        }
        Err(_) => {
            if !allow_private && local_name(host) {
                return Err(format!(
                    "the host {host:?} names a local machine; allow_private = true in the plugin's config allows it"
                ));
            }
            TargetHost::Name(host.to_string())
        }
    };
    Ok(Target { url, host, port })
}

/// Refuses a special address unless `allow_private`.
pub fn check_address(ip: IpAddr, allow_private: bool) -> Result<(), String> {
    match blocked_range(ip) {
        Some(kind) if !allow_private => Err(format!("{ip} is {}; {ALLOW}", an_address(&kind))),
        _ => Ok(()),
    }
}

/// Checks every address `name` resolved to: one special address refuses them all (a name must
/// not reach an internal service through one of its records).
pub fn check_resolved(name: &str, addrs: &[SocketAddr], allow_private: bool) -> Result<(), String> {
    if addrs.is_empty() {
        return Err(format!("{name} resolves to no address"));
    }
    for addr in addrs {
        if let (Some(kind), false) = (blocked_range(addr.ip()), allow_private) {
            return Err(format!(
                "{name} resolves to {}, {}; {ALLOW}",
                addr.ip(),
                an_address(&kind)
            ));
        }
    }
    Ok(())
}

const ALLOW: &str = "allow_private = true in the plugin's config allows it";

/// "a loopback address", "an IPv4-mapped loopback address".
fn an_address(kind: &str) -> String {
    let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u', 'I']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {kind} address")
}

/// Names that can only mean this machine or its local network (RFC 6761, 6762, 8375, and
/// ICANN's `.internal`), and single-label names, which resolvers complete with local domains.
fn local_name(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let suffixes = [".localhost", ".local", ".internal", ".home.arpa", ".localdomain"];
    !host.contains('.')
        || host == "home.arpa"
        || host == "localhost.localdomain"
        || suffixes.iter().any(|s| host.ends_with(s))
}

/// What kind of special address `ip` is, if it is one: anything a public webhook receiver cannot be.
pub fn blocked_range(ip: IpAddr) -> Option<String> {
    match ip {
        IpAddr::V4(v4) => v4_range(v4).map(String::from),
        IpAddr::V6(v6) => v6_range(v6),
    }
}

fn v4_range(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, ..) => "unspecified (0.0.0.0/8)",
        (127, ..) => "loopback",
        (10, ..) | (172, 16..=31, _) | (192, 168, _) => "private",
        (169, 254, _) => "link-local",
        (100, 64..=127, _) => "shared (CGNAT, 100.64.0.0/10)",
        (192, 0, 0) => "IETF protocol assignment (192.0.0.0/24)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18..=19, _) => "benchmarking (198.18.0.0/15)",
        (224..=239, ..) => "multicast",
        (240..=255, ..) => "reserved or broadcast",
        _ => return None,
    })
}

fn v6_range(ip: Ipv6Addr) -> Option<String> {
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    // Addresses that carry an IPv4 address are judged by it.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_range(v4).map(|k| format!("IPv4-mapped {k}"));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return v4_range(embedded(s[6], s[7])).map(|k| format!("NAT64 {k}"));
    }
    if s[0] == 0x2002 {
        return v4_range(embedded(s[1], s[2])).map(|k| format!("6to4 {k}"));
    }
    let kind = match s {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        [0, 0, 0, 0, 0, 0, _, _] => "IPv4-compatible (deprecated)",
        [0x64, 0xff9b, 1, ..] => "local-use NAT64",
        [0x100, 0, 0, 0, ..] => "discard-only",
        [0x2001, 0, ..] => "Teredo tunnel",
        [0x2001, 0xdb8, ..] => "documentation",
        [0x3fff, b, ..] if b < 0x1000 => "documentation",
        [a, ..] if a & 0xfe00 == 0xfc00 => "unique local (private)",
        [a, ..] if a & 0xffc0 == 0xfe80 => "link-local",
        [a, ..] if a & 0xffc0 == 0xfec0 => "site-local (deprecated)",
        [a, ..] if a & 0xff00 == 0xff00 => "multicast",
        _ => return None,
    };
    Some(kind.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_addresses_are_refused_and_public_ones_pass() {
        let table = [
            ("127.0.0.1", Some("loopback")),
            ("127.255.0.9", Some("loopback")),
            ("::1", Some("loopback")),
            ("10.1.2.3", Some("private")),
            ("172.16.0.1", Some("private")),
            ("172.31.255.255", Some("private")),
            ("192.168.1.10", Some("private")),
            ("169.254.169.254", Some("link-local")),
            ("fe80::1", Some("link-local")),
            ("febf::1", Some("link-local")),
            ("fc00::1", Some("unique local")),
            ("fd12:3456::1", Some("unique local")),
            ("100.64.0.1", Some("CGNAT")),
            ("100.127.255.254", Some("CGNAT")),
            ("0.0.0.0", Some("unspecified")),
            ("::", Some("unspecified")),
            ("::ffff:127.0.0.1", Some("IPv4-mapped loopback")),
            ("::ffff:10.0.0.1", Some("IPv4-mapped private")),
            ("64:ff9b::a9fe:a9fe", Some("NAT64 link-local")),
            ("2002:c0a8:0101::1", Some("6to4 private")),
            ("224.0.0.1", Some("multicast")),
            ("ff02::1", Some("multicast")),
            ("255.255.255.255", Some("broadcast")),
            ("192.0.2.1", Some("documentation")),
            ("2001:db8::1", Some("documentation")),
            ("198.18.0.1", Some("benchmarking")),
            // Public addresses, including neighbours of the ranges above.
            ("8.8.8.8", None),
            ("1.1.1.1", None),
            ("172.15.255.255", None),
            ("172.32.0.1", None),
            ("100.63.255.255", None),
            ("100.128.0.1", None),
            ("169.253.0.1", None),
            ("192.169.0.1", None),
            ("2606:4700:4700::1111", None),
            ("::ffff:8.8.8.8", None),
            ("64:ff9b::808:808", None),
        ];
        for (ip, expected) in table {
            let kind = blocked_range(ip.parse().unwrap());
            match expected {
                Some(part) => assert!(kind.as_deref().is_some_and(|k| k.contains(part)), "{ip}: {kind:?}"),
                None => assert_eq!(kind, None, "{ip}"),
            }
        }
    }

    #[test]
    fn the_url_policy_checks_scheme_credentials_and_host() {
        let ok = check_url("https://hooks.example.com/in?x=1", false).unwrap();
        assert_eq!((ok.host, ok.port), (TargetHost::Name("hooks.example.com".into()), 443));
        assert_eq!(
            check_url("http://8.8.8.8:8080/", false).unwrap().host,
            TargetHost::Ip("8.8.8.8".parse().unwrap())
        );
        for (url, why) in [
            ("ftp://example.com/", "scheme"),
            ("file:///etc/passwd", "scheme"),
            ("not a url", "not valid"),
            ("https://user:pw@example.com/", "credentials"),
            ("http://127.0.0.1:9/", "loopback"),
            ("http://[::1]/", "loopback"),
            ("http://[::ffff:127.0.0.1]/", "IPv4-mapped loopback"),
            ("http://0x7f000001/", "loopback"),
            ("http://2130706433/", "loopback"),
            ("http://10.0.0.1/", "private"),
            ("http://localhost:8080/", "local machine"),
            ("http://LOCALHOST./", "local machine"),
            ("http://api.localhost/", "local machine"),
            ("http://printer.local/", "local machine"),
            ("http://metadata.google.internal/", "local machine"),
            ("http://nas/", "local machine"),
        ] {
            let err = check_url(url, false).unwrap_err();
            assert!(err.contains(why), "{url}: {err}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL));
        assert!(check_url(&long, false).is_err());
        // allow_private lets local targets through; the rest of the policy stays.
        assert!(check_url("http://127.0.0.1:9/", true).is_ok());
        assert!(check_url("http://localhost/", true).is_ok());
        assert!(check_url("ftp://127.0.0.1/", true).is_err());
    }

    #[test]
    fn one_special_resolved_address_refuses_the_name() {
        let addrs = |list: &[&str]| {
            list.iter()
                .map(|a| SocketAddr::new(a.parse().unwrap(), 443))
                .collect::<Vec<_>>()
        };
        assert!(check_resolved("a.example", &addrs(&["8.8.8.8", "2606:4700::1"]), false).is_ok());
        let err = check_resolved("a.example", &addrs(&["8.8.8.8", "10.0.0.5"]), false).unwrap_err();
        assert!(err.contains("a.example resolves to 10.0.0.5"), "{err}");
        assert!(check_resolved("a.example", &addrs(&["10.0.0.5"]), true).is_ok());
        assert!(check_resolved("a.example", &[], true).is_err());
    }
}
