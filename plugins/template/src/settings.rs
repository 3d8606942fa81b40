//! The plugin's config table, read once per call from its JSON text.

use crate::render::Missing;
use serde_json::{Map, Value};

/// What `[plugins.template]` says.
#[derive(Debug, Default)]
pub struct Settings {
    /// `templates`: named texts a request can pick with its `template` field.
    templates: Map<String, Value>,
    /// `defaults`: values for variables a request does not give.
    defaults: Vec<(String, String)>,
    /// `missing`: what to do when a variable has no value.
    pub missing: Missing,
}

impl Settings {
    /// Reads the whole table (the host's `config-json`), refusing bad values with the key's name.
    pub fn parse(json: &str) -> Result<Settings, String> {
        let table: Map<String, Value> =
            serde_json::from_str(json).map_err(|e| format!("config is not a JSON object: {e}"))?;
        Ok(Settings {
            templates: templates(table.get("templates"))?,
            defaults: defaults(table.get("defaults"))?,
            missing: missing(table.get("missing"))?,
        })
    }

    /// The text of the template `name`.
    pub fn template(&self, name: &str) -> Result<&str, String> {
        match self.templates.get(name) {
            Some(Value::String(text)) => Ok(text),
            Some(_) => Err(format!("config key `templates.{name}` must be a string")),
            None => Err(unknown_template(name, &self.templates)),
        }
    }

    /// The default value of variable `name`, if the config has one.
    pub fn default(&self, name: &str) -> Option<&str> {
        self.defaults
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The error for a template the config does not have, listing those it has.
fn unknown_template(name: &str, templates: &Map<String, Value>) -> String {
    if templates.is_empty() {
        return format!("unknown template `{name}`: the config has no `templates` table");
    }
    let known: Vec<&str> = templates.keys().map(String::as_str).collect();
    format!("unknown template `{name}` (known: {})", known.join(", "))
}

/// `templates`: a table, or nothing.
fn templates(value: Option<&Value>) -> Result<Map<String, Value>, String> {
    match value {
        None => Ok(Map::new()),
        Some(Value::Object(table)) => Ok(table.clone()),
        Some(_) => Err("config key `templates` must be a table of strings".into()),
    }
}

/// `defaults`: a table of strings, numbers or booleans, or nothing.
fn defaults(value: Option<&Value>) -> Result<Vec<(String, String)>, String> {
    let table = match value {
        None => return Ok(Vec::new()),
        Some(Value::Object(table)) => table,
        Some(_) => return Err("config key `defaults` must be a table".into()),
    };
    let mut defaults = Vec::with_capacity(table.len());
    for (name, value) in table {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return Err(format!("config key `defaults.{name}` must be a string or a number")),
        };
        defaults.push((name.clone(), text));
    }
    Ok(defaults)
}

/// `missing`: `"error"` (the default), `"keep"` or `"empty"`.
fn missing(value: Option<&Value>) -> Result<Missing, String> {
    match value.map(|v| v.as_str()) {
        None => Ok(Missing::Error),
        Some(Some("error")) => Ok(Missing::Error),
        Some(Some("keep")) => Ok(Missing::Keep),
        Some(Some("empty")) => Ok(Missing::Empty),
        Some(_) => Err("config key `missing` must be \"error\", \"keep\" or \"empty\"".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_table_gives_the_defaults() {
        let s = Settings::parse("{}").unwrap();
        assert_eq!(s.missing, Missing::Error);
        assert_eq!(s.default("name"), None);
    }

    #[test]
    fn defaults_accept_numbers_and_booleans() {
        let s = Settings::parse(r#"{"defaults": {"n": 5, "vip": true}}"#).unwrap();
        assert_eq!(s.default("n"), Some("5"));
        assert_eq!(s.default("vip"), Some("true"));
    }

    #[test]
    fn bad_values_are_refused_with_the_key() {
        let err = Settings::parse(r#"{"missing": "ignore"}"#).unwrap_err();
        assert!(err.contains("`missing`"), "{err}");
        let err = Settings::parse(r#"{"templates": "welcome"}"#).unwrap_err();
        assert!(err.contains("`templates`"), "{err}");
        let s = Settings::parse(r#"{"templates": {"n": 1}}"#).unwrap();
        assert!(s.template("n").unwrap_err().contains("`templates.n`"));
    }

    #[test]
    fn reserved_keys_are_ignored() {
        assert!(Settings::parse(r#"{"on_error": "allow"}"#).is_ok());
    }
}
