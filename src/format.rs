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
