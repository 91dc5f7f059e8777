//! API keys: read from the environment only, never printed. `Debug`/`Display` show `***`, and [`Secret::redact`]
//! scrubs the key (and any `sk-…`-looking token) out of text that might echo it back.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

#[derive(Debug, thiserror::Error)]
pub(crate) enum SecretError {
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

    pub(crate) fn from_env(var: &str, target: &str) -> Result<Secret, SecretError> {
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
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with this key, any piece of it of [`MIN_PIECE`] or more characters (case-insensitively: servers echo
    /// keys lower- or upper-cased, and a clipped echo keeps only a piece), and anything shaped like an API key
    /// (`sk-…`, `pat_…`, `Bearer …`) replaced by `***`. Redact before clipping, never after.
    pub(crate) fn redact(&self, text: &str) -> String {
        redact_key_shapes(&redact_pieces(text, &self.0))
    }
}

/// Shortest piece of a key that is redacted; a whole key shorter than this (but 4+ characters) is redacted too.
pub(crate) const MIN_PIECE: usize = 8;

/// `text` with every run of characters that matches a piece of `key` (ASCII case-insensitively) of at least
/// [`MIN_PIECE`] bytes, or the whole key when it is shorter, replaced by `***`. O(text x key) at worst.
fn redact_pieces(text: &str, key: &str) -> String {
    let (t, k) = (text.as_bytes(), key.as_bytes());
    let min = MIN_PIECE.min(k.len());
    if min < 4 || t.len() < min {
        return text.to_string();
    }
    // Byte ranges to hide, as the longest match of a key piece at each text position.
    let mut hide: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i + min <= t.len() {
        let best = (0..=k.len() - min)
            .map(|j| common_prefix(&t[i..], &k[j..]))
            .max()
            .unwrap_or(0);
        if best >= min {
            match hide.last_mut() {
                Some(last) if last.1 >= i => last.1 = last.1.max(i + best),
                _ => hide.push((i, i + best)),
            }
        }
        i += 1;
    }
    if hide.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (mut a, mut b) in hide {
        // Widen to character boundaries (a key with non-ASCII characters can match mid-character).
        while !text.is_char_boundary(a) {
            a -= 1;
        }
        while !text.is_char_boundary(b) {
            b += 1;
        }
        if a < at {
            a = at;
        }
        out.push_str(&text[at..a]);
        if b > a {
            out.push_str("***");
        }
        at = at.max(b);
    }
    out.push_str(&text[at..]);
    out
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .take_while(|(x, y)| x.eq_ignore_ascii_case(y))
        .count()
}

/// Replace tokens that look like API keys (`sk-…`, `pat_…`, `Bearer …`) with `***`.
pub(crate) fn redact_key_shapes(text: &str) -> String {
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

    #[test]
    fn pieces_and_cases_are_redacted() {
        let key = "Zq7vR2mXr9LpT4wYc8NbKd3F";
        let s = Secret::new(key);
        // Upper- and lower-cased echoes.
        assert_eq!(
            s.redact(&format!("bad {}!", key.to_uppercase())),
            "bad ***!"
        );
        assert_eq!(
            s.redact(&format!("text/x-{}", key.to_lowercase())),
            "text/x-***"
        );
        // A clipped echo keeps a prefix; a suffix; a middle piece: each of 8+ characters goes.
        assert_eq!(s.redact("...Zq7vR2mXr9"), "...***");
        assert_eq!(s.redact("Kd3F and T4wYc8Nb."), "Kd3F and ***.");
        assert_eq!(s.redact("Zq7vR2m is 7"), "Zq7vR2m is 7");
        // Two echoes, adjacent and overlapping matches, non-ASCII around them.
        assert_eq!(s.redact(&format!("é{key}{key}é")), "é***é");
        // A short key is redacted whole.
        let s = Secret::new("abcdef");
        assert_eq!(s.redact("x ABCDEF y abcde"), "x *** y abcde");
        // Non-ASCII key: widened to character boundaries, never a panic.
        let s = Secret::new("ключ-секрет-значение");
        assert_eq!(s.redact("a ключ-секрет b"), "a *** b");
        assert_eq!(s.redact("é"), "é");
    }
}
