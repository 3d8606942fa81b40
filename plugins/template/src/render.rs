//! Placeholder rendering: `{{name}}` or `{{ name }}` replaced by a variable's value, in one
//! pass (a value that itself contains `{{...}}` is not expanded again).

/// What to do with a placeholder whose variable has no value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Missing {
    /// Fail, naming every missing variable.
    #[default]
    Error,
    /// Leave the placeholder in the text as it was written.
    Keep,
    /// Replace it with nothing.
    Empty,
}

/// `text` with its placeholders filled from `lookup`, or an error naming the missing
/// variables when `missing` is [`Missing::Error`]. Braces that do not form a placeholder
/// (`{{}}`, `{{ two words }}`, an unclosed `{{`) are left as they are.
pub fn render<'a>(text: &str, lookup: impl Fn(&str) -> Option<&'a str>, missing: Missing) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut absent: Vec<&str> = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let Some((name, written, after)) = placeholder(&rest[open..]) else {
            // Not a placeholder: keep one brace and look again from the next character.
            out.push('{');
            rest = &rest[open + 1..];
            continue;
        };
        match lookup(name) {
            Some(value) => out.push_str(value),
            None => {
                if !absent.contains(&name) {
                    absent.push(name);
                }
                if missing == Missing::Keep {
                    out.push_str(written);
                }
            }
        }
        rest = after;
    }
    out.push_str(rest);
    if missing == Missing::Error && !absent.is_empty() {
        return Err(missing_message(&absent));
    }
    Ok(out)
}

/// Splits a placeholder off the front of `text` (which starts with `{{`): its variable name,
/// the placeholder as written, and what follows it.
fn placeholder(text: &str) -> Option<(&str, &str, &str)> {
    let close = text[2..].find("}}")? + 2;
    let name = text[2..close].trim();
    if !is_name(name) {
        return None;
    }
    Some((name, &text[..close + 2], &text[close + 2..]))
}

/// Variable names: letters, digits, `_`, `-` and `.`.
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// "missing variable `a`" or "missing variables `a`, `b`".
fn missing_message(names: &[&str]) -> String {
    let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    let noun = if names.len() == 1 { "variable" } else { "variables" };
    format!("missing {noun} {}", list.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<&'static str> {
        match name {
            "name" => Some("Ayesha"),
            "code" => Some("{{name}}"),
            _ => None,
        }
    }

    fn ok(text: &str) -> String {
        render(text, vars, Missing::Error).unwrap()
    }

    #[test]
    fn fills_placeholders_with_and_without_spaces() {
        assert_eq!(ok("Hi {{name}}"), "Hi Ayesha");
        assert_eq!(ok("Hi {{ name }}!"), "Hi Ayesha!");
        assert_eq!(ok("{{name}}{{name}}"), "AyeshaAyesha");
    }

    #[test]
    fn values_are_not_expanded_again() {
        assert_eq!(ok("code: {{code}}"), "code: {{name}}");
    }

    #[test]
    fn leaves_braces_that_are_not_placeholders() {
        assert_eq!(ok("{{}} and {{ two words }}"), "{{}} and {{ two words }}");
        assert_eq!(ok("unclosed {{name"), "unclosed {{name");
        assert_eq!(ok("{{{name}}}"), "{Ayesha}");
        assert_eq!(ok("Grüße, {{name}} 👋"), "Grüße, Ayesha 👋");
    }

    #[test]
    fn names_every_missing_variable_once() {
        let err = render("{{a}} {{b}} {{a}}", vars, Missing::Error).unwrap_err();
        assert_eq!(err, "missing variables `a`, `b`");
    }

    #[test]
    fn keeps_or_empties_missing_placeholders_as_asked() {
        assert_eq!(
            render("{{ x }}-{{name}}", vars, Missing::Keep).unwrap(),
            "{{ x }}-Ayesha"
        );
        assert_eq!(render("{{ x }}-{{name}}", vars, Missing::Empty).unwrap(), "-Ayesha");
    }
}
