//! The `template` plugin: fills `{{name}}` placeholders in outgoing texts from the request's
//! `vars` and the config's `defaults`, optionally starting from a named template in the config.
//!
//! The host part is this file; the work is pure and tested natively: `render` scans and
//! substitutes, `settings` reads the config table.

mod render;
mod settings;

use render::render;
use settings::Settings;
use wapi_plugin_sdk::{Hook, Outgoing, Plugin, Rendered, config};

/// The plugin's exports.
struct Template;

impl Plugin for Template {
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const HOOKS: &'static [Hook] = &[Hook::Template];

    fn template(message: Outgoing) -> Result<Rendered, String> {
        let settings = Settings::parse(&config::get_json())?;
        apply(&settings, &message)
    }
}

wapi_plugin_sdk::export_plugin!(Template);

/// Renders `message` under `settings`: the named template (if the request gave one) or the
/// message's own text, with its placeholders filled. `Keep` when that changes nothing.
fn apply(settings: &Settings, message: &Outgoing) -> Result<Rendered, String> {
    let source = match &message.template {
        Some(name) => settings.template(name)?,
        None => message.text.as_str(),
    };
    let lookup = |name: &str| message.var(name).or_else(|| settings.default(name));
    let text = render(source, lookup, settings.missing)?;
    if text == message.text {
        Ok(Rendered::Keep)
    } else {
        Ok(Rendered::Text(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(text: &str, template: Option<&str>, vars: &[(&str, &str)]) -> Outgoing {
        Outgoing {
            to: "923001234567".into(),
            kind: "text".into(),
            text: text.into(),
            template: template.map(Into::into),
            vars: vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            key_name: "default".into(),
        }
    }

    fn settings(json: &str) -> Settings {
        Settings::parse(json).unwrap()
    }

    #[test]
    fn a_text_without_placeholders_is_kept() {
        let got = apply(&settings("{}"), &message("plain text", None, &[]));
        assert_eq!(got, Ok(Rendered::Keep));
    }

    #[test]
    fn request_vars_win_over_defaults() {
        let s = settings(r#"{"defaults": {"name": "customer", "shop": "Ali's"}}"#);
        let got = apply(
            &s,
            &message("Hi {{name}}, welcome to {{ shop }}", None, &[("name", "Sara")]),
        );
        assert_eq!(got, Ok(Rendered::Text("Hi Sara, welcome to Ali's".into())));
    }

    #[test]
    fn a_named_template_replaces_the_text() {
        let s = settings(r#"{"templates": {"welcome": "Hi {{name}}!"}}"#);
        let got = apply(&s, &message("ignored", Some("welcome"), &[("name", "Omar")]));
        assert_eq!(got, Ok(Rendered::Text("Hi Omar!".into())));
    }

    #[test]
    fn an_unknown_template_is_an_error_naming_it() {
        let s = settings(r#"{"templates": {"welcome": "Hi"}}"#);
        let err = apply(&s, &message("", Some("bye"), &[])).unwrap_err();
        assert!(err.contains("unknown template `bye`"), "{err}");
        assert!(err.contains("welcome"), "{err}");
    }

    #[test]
    fn a_missing_variable_is_an_error_by_default() {
        let err = apply(&settings("{}"), &message("Hi {{name}}", None, &[])).unwrap_err();
        assert_eq!(err, "missing variable `name`");
    }

    #[test]
    fn the_missing_policy_comes_from_config() {
        let keep = apply(&settings(r#"{"missing": "keep"}"#), &message("Hi {{name}}", None, &[]));
        assert_eq!(keep, Ok(Rendered::Keep));
        let empty = apply(&settings(r#"{"missing": "empty"}"#), &message("Hi {{name}}", None, &[]));
        assert_eq!(empty, Ok(Rendered::Text("Hi ".into())));
    }
}
