//! Recipients: phone numbers (digits with country code, no `+`) and group JIDs (`…@g.us`).

use std::fmt;

/// 8–15 digits, country code first, no leading zero (E.164 without the `+`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.starts_with('+') {
            return Err("write the number without `+`: digits with country code, e.g. 923001234567".into());
        }
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err("must be digits only, with country code, e.g. 923001234567".into());
        }
        if !(8..=15).contains(&text.len()) {
            return Err(format!("must have 8 to 15 digits, not {}", text.len()));
        }
        if text.starts_with('0') {
            return Err("must start with the country code, not 0".into());
        }
        Ok(Self(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A group id: `<digits>[-<digits>]@g.us`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupJid(String);

impl GroupJid {
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some(local) = text.strip_suffix("@g.us") else {
            return Err("a group must end with @g.us".into());
        };
        let valid = !local.is_empty()
            && local.len() <= 64
            && local
                .split('-')
                .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
        if !valid {
            return Err("a group JID is digits (optionally two parts joined by -) followed by @g.us".into());
        }
        Ok(Self(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Recipient {
    Phone(PhoneNumber),
    Group(GroupJid),
}

impl Recipient {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("must not be empty".into());
        }
        if text.contains('@') {
            GroupJid::parse(text).map(Self::Group)
        } else {
            PhoneNumber::parse(text).map(Self::Phone)
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Phone(p) => p.as_str(),
            Self::Group(g) => g.as_str(),
        }
    }

    pub fn phone(&self) -> Option<&PhoneNumber> {
        match self {
            Self::Phone(p) => Some(p),
            Self::Group(_) => None,
        }
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
