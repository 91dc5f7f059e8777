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
    let digits = whole.abs().to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if v < 0.0 { "-" } else { "" };
    format!("{sign}${grouped}.{cents:02}")
}

pub(crate) fn change(l: Option<f64>, g: Option<f64>) -> String {
    match (l, g) {
        (Some(l), Some(g)) if l != 0.0 => format!("{:+.1}%", (g - l) / l * 100.0),
        _ => "-".into(),
    }
}
