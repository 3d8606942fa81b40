//! Who may receive messages: exact numbers and group JIDs, number prefixes, and whether groups
//! are allowed at all. Deny rules win over allow rules.

/// The recipient rules of the config.
#[derive(Debug, Default)]
pub struct Rules {
    /// `allow`: exact numbers and group JIDs.
    pub allow: Vec<String>,
    /// `deny`: exact numbers and group JIDs.
    pub deny: Vec<String>,
    /// `allow_prefixes`: number prefixes (country codes, area codes).
    pub allow_prefixes: Vec<String>,
    /// `deny_prefixes`: number prefixes.
    pub deny_prefixes: Vec<String>,
    /// `groups`: whether group recipients are allowed.
    pub groups: bool,
}

impl Rules {
    /// Why `to` is refused, or `None` when it may receive the message.
    pub fn check(&self, to: &str) -> Option<String> {
        if is_group(to) {
            self.check_group(to)
        } else {
            self.check_number(to)
        }
    }

    /// A group: allowed by `groups`, then refused when denied, or when `allow` lists groups
    /// and not this one. Prefixes never apply to groups.
    fn check_group(&self, to: &str) -> Option<String> {
        if !self.groups {
            return Some(format!("recipient {to} is a group, and groups are not allowed"));
        }
        if self.deny.iter().any(|d| d == to) {
            return Some(format!("recipient {to} is on the deny list"));
        }
        let mut allowed_groups = self.allow.iter().filter(|a| is_group(a)).peekable();
        if allowed_groups.peek().is_some() && !allowed_groups.any(|a| a == to) {
            return Some(format!("recipient {to} is not on the allow list"));
        }
        None
    }

    /// A phone number: refused when denied; when any number allow rule exists, refused unless
    /// one matches.
    fn check_number(&self, to: &str) -> Option<String> {
        if self.deny.iter().any(|d| d == to) {
            return Some(format!("recipient {to} is on the deny list"));
        }
        if let Some(prefix) = self.deny_prefixes.iter().find(|p| to.starts_with(p.as_str())) {
            return Some(format!("recipient {to} matches the denied prefix {prefix}"));
        }
        let mut numbers = self.allow.iter().filter(|a| !is_group(a));
        let has_allow_rules = numbers.clone().next().is_some() || !self.allow_prefixes.is_empty();
        let allowed = numbers.any(|a| a == to) || self.allow_prefixes.iter().any(|p| to.starts_with(p.as_str()));
        if has_allow_rules && !allowed {
            return Some(format!("recipient {to} is not on the allow list"));
        }
        None
    }
}

/// Whether a recipient is a group JID.
pub fn is_group(to: &str) -> bool {
    to.ends_with("@g.us")
}

/// A configured number or prefix without the `+`, spaces, dashes and parentheses people write
/// in them; `None` when what is left is not digits.
pub fn digits(written: &str) -> Option<String> {
    let kept: String = written
        .chars()
        .filter(|c| !matches!(c, '+' | ' ' | '-' | '(' | ')'))
        .collect();
    (!kept.is_empty() && kept.bytes().all(|b| b.is_ascii_digit())).then_some(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn open() -> Rules {
        Rules {
            groups: true,
            ..Rules::default()
        }
    }

    #[test]
    fn no_rules_allow_everyone() {
        assert_eq!(open().check("923001234567"), None);
        assert_eq!(open().check("1203630@g.us"), None);
    }

    #[test]
    fn deny_wins_over_allow() {
        let rules = Rules {
            allow_prefixes: strings(&["44"]),
            deny_prefixes: strings(&["4420"]),
            ..open()
        };
        assert_eq!(rules.check("441611234567"), None);
        assert_eq!(
            rules.check("442071234567").as_deref(),
            Some("recipient 442071234567 matches the denied prefix 4420")
        );
        let rules = Rules {
            allow: strings(&["923001234567"]),
            deny: strings(&["923001234567"]),
            ..open()
        };
        assert_eq!(
            rules.check("923001234567").as_deref(),
            Some("recipient 923001234567 is on the deny list")
        );
    }

    #[test]
    fn allow_rules_admit_only_matching_numbers() {
        let rules = Rules {
            allow: strings(&["15551234567"]),
            allow_prefixes: strings(&["92"]),
            ..open()
        };
        assert_eq!(rules.check("15551234567"), None);
        assert_eq!(rules.check("923001234567"), None);
        assert_eq!(
            rules.check("15557654321").as_deref(),
            Some("recipient 15557654321 is not on the allow list")
        );
    }

    #[test]
    fn groups_follow_the_groups_switch_and_exact_lists_only() {
        let closed = Rules {
            groups: false,
            ..Rules::default()
        };
        assert!(closed.check("1203630@g.us").unwrap().contains("groups are not allowed"));
        let numbers_only = Rules {
            allow_prefixes: strings(&["92"]),
            ..open()
        };
        assert_eq!(numbers_only.check("1203630@g.us"), None);
        let listed = Rules {
            allow: strings(&["1@g.us", "923001234567"]),
            ..open()
        };
        assert_eq!(listed.check("1@g.us"), None);
        assert!(listed.check("2@g.us").unwrap().contains("not on the allow list"));
        let denied = Rules {
            deny: strings(&["1@g.us"]),
            ..open()
        };
        assert!(denied.check("1@g.us").unwrap().contains("deny list"));
    }

    #[test]
    fn digits_strips_what_people_write() {
        assert_eq!(digits("+92 300-1234567").as_deref(), Some("923001234567"));
        assert_eq!(digits("+44 (20)").as_deref(), Some("4420"));
        assert_eq!(digits("92x"), None);
        assert_eq!(digits("+"), None);
    }
}
