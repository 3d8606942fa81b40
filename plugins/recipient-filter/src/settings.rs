//! The plugin's config table, read through a key lookup so tests can hand it a map.

use crate::quiet::{self, QuietHours};
use crate::rules::{Rules, digits, is_group};
use wapi_plugin_sdk::config::{parse_bool, parse_list};

/// Everything `[plugins.recipient-filter]` says.
#[derive(Debug)]
pub struct Settings {
    rules: Rules,
    quiet: Option<QuietHours>,
}

impl Settings {
    /// Reads and checks every key; the first bad one is the error.
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let list = |key: &str| get(key).map_or(Ok(Vec::new()), |raw| parse_list(key, &raw));
        let rules = Rules {
            allow: recipients("allow", list("allow")?)?,
            deny: recipients("deny", list("deny")?)?,
            allow_prefixes: prefixes("allow_prefixes", list("allow_prefixes")?)?,
            deny_prefixes: prefixes("deny_prefixes", list("deny_prefixes")?)?,
            groups: get("groups").map_or(Ok(true), |raw| parse_bool("groups", &raw))?,
        };
        let zone = get("timezone");
        let quiet = match (get("quiet_hours"), zone) {
            (Some(range), zone) => Some(QuietHours::parse(&range, zone.as_deref().unwrap_or("UTC").trim())?),
            // A time zone alone does nothing, but a misspelt one is still worth an error.
            (None, Some(zone)) => quiet::zone(zone.trim()).map(|_| None)?,
            (None, None) => None,
        };
        Ok(Settings { rules, quiet })
    }

    /// Why a message to `to` at `now_ms` is refused, or `None` when it may go.
    pub fn check(&self, to: &str, now_ms: u64) -> Option<String> {
        self.rules.check(to).or_else(|| self.quiet.as_ref()?.check(now_ms))
    }
}

/// Exact recipients: numbers (normalised to digits) or group JIDs.
fn recipients(key: &str, written: Vec<String>) -> Result<Vec<String>, String> {
    written
        .into_iter()
        .map(|w| if is_group(&w) { Ok(w) } else { number(key, &w) })
        .collect()
}

/// Number prefixes, normalised to digits.
fn prefixes(key: &str, written: Vec<String>) -> Result<Vec<String>, String> {
    written.iter().map(|w| number(key, w)).collect()
}

/// One number or prefix as digits, or an error naming the key.
fn number(key: &str, written: &str) -> Result<String, String> {
    digits(written).ok_or_else(|| format!("config key `{key}`: `{written}` is not a phone number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Settings from `(key, raw text)` pairs, as the host would hand them over.
    fn read(pairs: &[(&str, &str)]) -> Result<Settings, String> {
        Settings::read(|key| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| v.to_string()))
    }

    const NOON_UTC: u64 = 1_736_942_400_000; // 2025-01-15T12:00:00Z
    const MIDNIGHT_UTC: u64 = 1_736_899_200_000; // 2025-01-15T00:00:00Z

    #[test]
    fn an_empty_table_allows_everything_at_any_time() {
        let s = read(&[]).unwrap();
        assert_eq!(s.check("923001234567", MIDNIGHT_UTC), None);
        assert_eq!(s.check("1@g.us", MIDNIGHT_UTC), None);
    }

    #[test]
    fn lists_come_as_json_arrays_or_comma_strings() {
        let s = read(&[("deny", r#"["+92 300 1234567"]"#), ("deny_prefixes", "44, 1")]).unwrap();
        assert!(s.check("923001234567", NOON_UTC).unwrap().contains("deny list"));
        assert!(s.check("15551234567", NOON_UTC).unwrap().contains("denied prefix 1"));
        assert_eq!(s.check("923007654321", NOON_UTC), None);
    }

    #[test]
    fn quiet_hours_default_to_utc() {
        let s = read(&[("quiet_hours", "22:00-08:00")]).unwrap();
        assert_eq!(
            s.check("92300", MIDNIGHT_UTC).as_deref(),
            Some("quiet hours 22:00-08:00 UTC")
        );
        assert_eq!(s.check("92300", NOON_UTC), None);
    }

    #[test]
    fn recipient_rules_are_reported_before_quiet_hours() {
        let s = read(&[("quiet_hours", "00:00-23:59"), ("deny", "92300")]).unwrap();
        assert!(s.check("92300", NOON_UTC).unwrap().contains("deny list"));
        assert!(s.check("92301", NOON_UTC).unwrap().starts_with("quiet hours"));
    }

    #[test]
    fn a_bad_config_is_an_error() {
        assert!(read(&[("quiet_hours", "late")]).unwrap_err().contains("quiet_hours"));
        assert!(read(&[("quiet_hours", "22:00-08:00"), ("timezone", "Nowhere")]).is_err());
        assert!(read(&[("timezone", "Nowhere")]).unwrap_err().contains("Nowhere"));
        assert!(
            read(&[("allow_prefixes", "92x")])
                .unwrap_err()
                .contains("allow_prefixes")
        );
        assert!(read(&[("groups", "yes")]).unwrap_err().contains("groups"));
    }
}
