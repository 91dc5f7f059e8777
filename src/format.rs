//! The one set of number formatters for text outputs (Markdown, terminal): USD, percentages, optional figures.

pub(crate) fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

/// A millisecond figure (latency, quantile) as every output prints it: 0.1 ms.
pub(crate) fn ms(v: f64) -> String {
    format!("{v:.1}")
}

/// The one XML / HTML text and attribute escaper.
pub(crate) fn escape_xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(crate) fn pct_str(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{:.2}%", v * 100.0))
}

pub(crate) fn usd(v: f64) -> String {
    let whole = v.trunc() as i64;
    let cents = ((v - v.trunc()).abs() * 100.0).round() as i64;
    let (whole, cents) = if cents == 100 {
        (whole + v.signum() as i64, 0)
    } else {
        (whole, cents)
    };
    let grouped = thousands(whole.unsigned_abs());
    let sign = if v < 0.0 { "-" } else { "" };
    format!("{sign}${grouped}.{cents:02}")
}

pub(crate) fn change(l: Option<f64>, g: Option<f64>) -> String {
    match (l, g) {
        (Some(l), Some(g)) if l != 0.0 => format!("{:+.1}%", (g - l) / l * 100.0),
        _ => "-".into(),
    }
}

/// A count with thousands separators: 1234567 -> "1,234,567".
pub(crate) fn thousands(v: u64) -> String {
    group_digits(&v.to_string())
}

/// A number with thousands separators and `decimals` digits after the point: 1234567.8 -> "1,234,568" (0 decimals).
/// Charts' axes and legends use it; non-finite values print as themselves.
pub(crate) fn decimal(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let s = format!("{:.*}", decimals, v.abs());
    let (int, frac) = match s.find('.') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s.as_str(), ""),
    };
    let neg = v < 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0');
    format!(
        "{}{}{}",
        if neg { "-" } else { "" },
        group_digits(int),
        frac
    )
}

/// "1234567" -> "1,234,567": the one digit grouping of every output.
fn group_digits(digits: &str) -> String {
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    grouped
}

#[cfg(test)]
mod thousands_tests {
    #[test]
    fn groups_by_three() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1000), "1,000");
        assert_eq!(super::thousands(1234567), "1,234,567");
        assert_eq!(super::usd(-1234.5), "-$1,234.50");
    }
}

/// Whether terminal output may be coloured: only when it goes to a terminal, and never when `NO_COLOR` is set to a
/// non-empty value (<https://no-color.org>).
pub fn color_enabled(is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// The terminal summary with its verdict words coloured (ANSI SGR): a `PASS` / `FAIL` / `NO DATA` at the start of a
/// line and the word after `decision: `. The words stay, so the colour never carries the meaning alone.
pub fn paint_verdicts(text: &str) -> String {
    const GREEN: &str = "\x1b[1;32m";
    const RED: &str = "\x1b[1;31m";
    const YELLOW: &str = "\x1b[1;33m";
    const RESET: &str = "\x1b[0m";
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.split_inclusive('\n') {
        let (prefix, rest) = line.split_at(if line.starts_with("decision: ") {
            10
        } else {
            0
        });
        let colour = [
            ("PASS", GREEN),
            ("SAFE", GREEN),
            ("FAIL", RED),
            ("NOT SAFE", RED),
            ("NO DATA", YELLOW),
            ("UNDECIDED", YELLOW),
        ]
        .into_iter()
        .find(|(w, _)| {
            rest.strip_prefix(w)
                .is_some_and(|r| r.is_empty() || r.starts_with([' ', '\n']))
                && (prefix.is_empty() == matches!(*w, "PASS" | "FAIL" | "NO DATA"))
        });
        match colour {
            Some((w, c)) => {
                out.push_str(prefix);
                out.push_str(c);
                out.push_str(w);
                out.push_str(RESET);
                out.push_str(&rest[w.len()..]);
            }
            None => out.push_str(line),
        }
    }
    out
}

#[cfg(test)]
mod color_tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(color_enabled(true, None));
        assert!(color_enabled(true, Some(OsStr::new(""))));
        assert!(!color_enabled(true, Some(OsStr::new("1"))));
        assert!(!color_enabled(false, None));
    }

    #[test]
    fn verdict_words_are_coloured_and_kept() {
        let text = "legacy scheduled 3\nPASS all: gateway.p99_ms < 400 (12)\nFAIL all: x < 1 (2)\n\
                    NO DATA all: y < 1 (-)\nPASSWORD is not a verdict\ndecision: NOT SAFE\n  - a FAIL in a reason\n";
        let p = paint_verdicts(text);
        assert!(
            p.contains("\x1b[1;32mPASS\x1b[0m all: gateway.p99_ms < 400 (12)\n"),
            "{p}"
        );
        assert!(p.contains("\x1b[1;31mFAIL\x1b[0m all: x < 1 (2)\n"), "{p}");
        assert!(p.contains("\x1b[1;33mNO DATA\x1b[0m all"), "{p}");
        assert!(p.contains("decision: \x1b[1;31mNOT SAFE\x1b[0m\n"), "{p}");
        assert!(p.contains("\nPASSWORD is not a verdict\n"), "{p}");
        assert!(p.contains("  - a FAIL in a reason\n"), "{p}");
        // Without the escapes the text is unchanged.
        let plain = p
            .replace("\x1b[1;32m", "")
            .replace("\x1b[1;31m", "")
            .replace("\x1b[1;33m", "")
            .replace("\x1b[0m", "");
        assert_eq!(plain, text);
    }
}
