//! Find where a field stands in a block-style YAML document, so that semantic validation errors (a negative rate,
//! weights that do not sum) can name the file, line and column just like serde_yaml's own parse errors do.
//!
//! serde_yaml keeps no spans after deserialising; this scanner walks the text once, tracking the indentation stack of
//! mapping keys and sequence items, and answers "where is `traffic.models[2].weight`?". It handles the block style the
//! scenario files use (nested mappings, `- ` sequence items, inline values); for flow-style collections it falls back
//! to the nearest enclosing key it can find.

/// 1-based line and column of the key that starts `path` (`a.b[3].c`), or of its deepest located ancestor.
pub fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    let want = split_path(path);
    if want.is_empty() {
        return None;
    }
    // Stack of (indent, path segment) for the current position.
    let mut stack: Vec<(usize, Seg)> = Vec::new();
    // Per (indent, parent depth) count of sequence items seen, kept on the stack as Seg::Index.
    let mut best: Option<(usize, (usize, usize))> = None;
    for (lineno, raw) in text.lines().enumerate() {
        let line = strip_comment(raw);
        if line.trim().is_empty() || line.trim_start().starts_with("---") {
            continue;
        }
        let mut indent = line.len() - line.trim_start().len();
        let mut rest = line.trim_start();
        // A line may open several sequence items and one key: "  - - key: v" is rare; handle "- key: v".
        loop {
            if rest == "-" || rest.starts_with("- ") {
                while stack.last().is_some_and(|(i, _)| *i > indent) {
                    stack.pop();
                }
                let next_index = match stack.last() {
                    Some((i, Seg::Index(n))) if *i == indent => {
                        let n = *n + 1;
                        stack.pop();
                        n
                    }
                    _ => 0,
                };
                stack.push((indent, Seg::Index(next_index)));
                record(&stack, &want, lineno + 1, indent + 1, &mut best);
                let after = &rest[1..];
                let skip = after.len() - after.trim_start().len();
                indent += 1 + skip;
                rest = after.trim_start();
                if rest.is_empty() {
                    break;
                }
                continue;
            }
            if let Some(key) = key_of(rest) {
                while stack.last().is_some_and(|(i, _)| *i >= indent) {
                    // A sequence item at the same indent as its parent key (`key:\n- item`) stays below it.
                    if let Some((i, Seg::Index(_))) = stack.last() {
                        if *i == indent
                            && !matches!(stack.iter().rev().nth(1), Some((j, _)) if *j < indent)
                        {
                            break;
                        }
                    }
                    stack.pop();
                }
                stack.push((indent, Seg::Key(key.to_string())));
                record(&stack, &want, lineno + 1, indent + 1, &mut best);
            }
            break;
        }
    }
    best.map(|(_, pos)| pos)
}

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn split_path(path: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let mut p = part;
        if let Some(b) = p.find('[') {
            if b > 0 {
                out.push(Seg::Key(p[..b].to_string()));
            }
            p = &p[b..];
            while let Some(stripped) = p.strip_prefix('[') {
                let Some(end) = stripped.find(']') else { break };
                if let Ok(n) = stripped[..end].parse() {
                    out.push(Seg::Index(n));
                }
                p = &stripped[end + 1..];
            }
        } else if !p.is_empty() {
            out.push(Seg::Key(p.to_string()));
        }
    }
    out
}

fn record(
    stack: &[(usize, Seg)],
    want: &[Seg],
    line: usize,
    col: usize,
    best: &mut Option<(usize, (usize, usize))>,
) {
    let segs: Vec<&Seg> = stack.iter().map(|(_, s)| s).collect();
    if segs.len() > want.len() {
        return;
    }
    if segs.iter().zip(want).all(|(a, b)| *a == b) {
        let depth = segs.len();
        if best.is_none_or(|(d, _)| depth > d) {
            *best = Some((depth, (line, col)));
        }
    }
}

fn key_of(rest: &str) -> Option<&str> {
    let (k, _) = rest.split_once(':')?;
    let k = k.trim();
    let k = k.trim_matches(|c| c == '"' || c == '\'');
    if k.is_empty() || k.contains(' ') && !rest.starts_with('"') {
        return None;
    }
    Some(k)
}

fn strip_comment(line: &str) -> &str {
    let mut in_s = false;
    let mut in_d = false;
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\'' if !in_d => in_s = !in_s,
            b'"' if !in_s => in_d = !in_d,
            b'#' if !in_s && !in_d && (i == 0 || bytes[i - 1] == b' ') => return &line[..i],
            _ => {}
        }
    }
    line
}

/// Levenshtein distance, for "did you mean" suggestions.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The closest candidate within a small edit distance, if any.
pub(crate) fn suggest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// A YAML document error at a position: `file:line:col: field: message`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}:{line}:{col}: {field}: {message}")]
pub struct YamlError {
    pub(crate) file: String,
    pub(crate) line: usize,
    pub(crate) col: usize,
    pub(crate) field: String,
    pub(crate) message: String,
}

/// Turn a serde_yaml error into `file:line:col: field: message`, adding a suggestion for an unknown field.
pub(crate) fn yaml_error(file: &str, err: &serde_yaml::Error) -> YamlError {
    let text = err.to_string();
    let (line, col) = err
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((0, 0));
    // serde_yaml renders "path: message at line L column C".
    let body = match text.rfind(" at line ") {
        Some(i) => &text[..i],
        None => text.as_str(),
    };
    let (field, message) = match body.split_once(": ") {
        Some((f, m)) if !f.contains(' ') => (f.to_string(), m.to_string()),
        _ => ("(document)".to_string(), body.to_string()),
    };
    let message = add_suggestion(&message);
    YamlError {
        file: file.to_string(),
        line,
        col,
        field,
        message,
    }
}

fn add_suggestion(message: &str) -> String {
    // "unknown field `x`, expected one of `a`, `b`" / "expected `a` or `b`"
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_string();
    };
    let Some((name, expected)) = rest.split_once('`') else {
        return message.to_string();
    };
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    match suggest(name, candidates.iter().copied()) {
        Some(s) => format!("{message} (did you mean `{s}`?)"),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "name: x # comment\ntraffic:\n  stream_share: 0.3\n  models:\n    - name: a\n      weight: 1\n    - name: b\n      weight: -2\ntargets:\n- name: legacy\n  role: legacy\n- name: gw\n  headers:\n    x-bot: '1'\n";

    #[test]
    fn finds_nested_keys_and_sequence_items() {
        assert_eq!(locate(DOC, "name"), Some((1, 1)));
        assert_eq!(locate(DOC, "traffic.stream_share"), Some((3, 3)));
        assert_eq!(locate(DOC, "traffic.models[1].weight"), Some((8, 7)));
        assert_eq!(locate(DOC, "traffic.models[0].name"), Some((5, 7)));
        assert_eq!(locate(DOC, "targets[1].headers.x-bot"), Some((14, 5)));
        assert_eq!(locate(DOC, "targets[0].role"), Some((11, 3)));
    }

    #[test]
    fn falls_back_to_deepest_ancestor() {
        assert_eq!(locate(DOC, "traffic.missing"), Some((2, 1)));
        assert_eq!(locate(DOC, "nothing"), None);
    }

    #[test]
    fn suggestions() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(
            suggest("stream_shar", ["stream_share", "models"]),
            Some("stream_share")
        );
        assert_eq!(suggest("zzzzzz", ["stream_share", "models"]), None);
    }
}
