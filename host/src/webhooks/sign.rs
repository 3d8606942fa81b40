//! Standard Webhooks signing: the secret (`whsec_<base64>` or raw bytes), delivery ids, and the
//! `webhook-signature` value `v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{payload}")>`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A plugin's signing key. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

impl Secret {
    /// `whsec_<base64>` is decoded (the Standard Webhooks form); any other string is used as
    /// its bytes. Empty secrets and a `whsec_` secret that is not base64 are refused.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bytes = match text.strip_prefix("whsec_") {
            Some(encoded) => STANDARD
                .decode(encoded)
                .map_err(|e| format!("a whsec_ secret must be base64 after the prefix ({e})"))?,
            None => text.as_bytes().to_vec(),
        };
        if bytes.is_empty() {
            return Err("the secret is empty".into());
        }
        Ok(Self(bytes))
    }
}

/// The `webhook-signature` header value for one attempt.
pub fn signature(secret: &Secret, id: &str, timestamp: i64, payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret.0).expect("HMAC takes keys of any length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(payload.as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// A new delivery id: `msg_` and 24 random base62 characters (~143 bits; never a `.`, which the
/// signed content uses as its separator).
pub fn new_id() -> String {
    let mut rng = rand::rng();
    let tail: String = (0..24)
        .map(|_| BASE62[rng.random_range(0..BASE62.len())] as char)
        .collect();
    format!("msg_{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector published with the Standard Webhooks specification (its reference
    /// libraries test against it), so any of their verifiers accepts what we send.
    #[test]
    fn signs_like_the_standard_webhooks_reference_vector() {
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = signature(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_secret_without_the_prefix_is_used_as_its_bytes() {
        let raw = Secret::parse("not-base64 at all").unwrap();
        assert_eq!(raw.0, b"not-base64 at all");
        assert_ne!(
            signature(&raw, "msg_1", 1, "{}"),
            signature(&Secret::parse("other").unwrap(), "msg_1", 1, "{}")
        );
        assert!(Secret::parse("").is_err());
        assert!(Secret::parse("whsec_").is_err());
        assert!(Secret::parse("whsec_not*base64").is_err());
        assert_eq!(format!("{raw:?}"), "Secret(17 bytes)");
    }

    #[test]
    fn ids_are_prefixed_base62_and_differ() {
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 28);
        assert!(
            a.strip_prefix("msg_")
                .unwrap()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric())
        );
    }
}
