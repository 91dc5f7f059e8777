//! API keys: read from the environment only, never printed. `Debug`/`Display` show `***`, and [`Secret::redact`]
//! scrubs the key (and any `sk-…`-looking token) out of text that might echo it back.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable `{0}` (the API key of target `{1}`) is not set")]
    Missing(String, String),
    #[error(
        "environment variable `{0}` (the API key of target `{1}`) is empty or not valid UTF-8"
    )]
    Invalid(String, String),
}

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn from_env(var: &str, target: &str) -> Result<Secret, SecretError> {
        match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(Secret(v.trim().to_string())),
            Ok(_) | Err(std::env::VarError::NotUnicode(_)) => {
                Err(SecretError::Invalid(var.to_string(), target.to_string()))
            }
            Err(std::env::VarError::NotPresent) => {
                Err(SecretError::Missing(var.to_string(), target.to_string()))
            }
        }
    }

    /// The value, for building the Authorization header only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with this key, and anything shaped like an API key (`sk-…`, `pat_…`), replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let t = if self.0.len() >= 4 {
            text.replace(&self.0, "***")
        } else {
            text.to_string()
        };
        redact_key_shapes(&t)
    }
}

/// Replace tokens that look like API keys (`sk-…`, `pat_…`, `Bearer …`) with `***`.
pub fn redact_key_shapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let next = ["sk-", "pat_", "Bearer "]
            .iter()
            .filter_map(|p| rest.find(p).map(|i| (i, p.len())))
            .min();
        let Some((i, plen)) = next else {
            out.push_str(rest);
            break;
        };
        out.push_str(&rest[..i]);
        let tail = &rest[i + plen..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
            .unwrap_or(tail.len());
        if end >= 6 {
            out.push_str("***");
        } else {
            out.push_str(&rest[i..i + plen + end]);
        }
        rest = &tail[end..];
    }
    out
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let s = Secret::new("sk-live-abcdef123456");
        assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
        assert_eq!(s.redact("bad key sk-live-abcdef123456!"), "bad key ***!");
        assert_eq!(
            redact_key_shapes("Authorization: Bearer abcdefgh1234 ok"),
            "Authorization: *** ok"
        );
        assert_eq!(redact_key_shapes("task-1 sk-ab"), "task-1 sk-ab");
        let s = Secret::new("plainsecretvalue");
        assert_eq!(s.redact("x plainsecretvalue y"), "x *** y");
    }
}
