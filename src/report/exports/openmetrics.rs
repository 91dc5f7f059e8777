//! `metrics.prom`: the run's figures in the OpenMetrics text format (gauges only, `# EOF` last), which node_exporter's
//! textfile collector and `promtool check metrics` also read.

use std::fmt::Write as _;
use std::path::Path;

use super::series::Series;
use crate::report::error::{io, ReportError};

/// Escape a label value: backslash, double quote and newline, as the exposition formats require.
fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub(crate) fn render(series: &[Series]) -> String {
    let mut o = String::new();
    let mut seen: Vec<&str> = Vec::new();
    // Group by family: a family's samples must be contiguous, after its HELP and TYPE lines.
    let mut families: Vec<&str> = series.iter().map(|s| s.family.as_str()).collect();
    families.sort();
    families.dedup();
    for family in families {
        for s in series.iter().filter(|s| s.family == family) {
            let name = &s.name;
            if !seen.contains(&family) {
                seen.push(family);
                let _ = writeln!(o, "# HELP {family} {}", s.help);
                let _ = writeln!(o, "# TYPE {family} {}", s.kind);
            }
            let labels: Vec<String> = s
                .labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", label_value(v)))
                .collect();
            let _ = writeln!(o, "{name}{{{}}} {}", labels.join(","), s.value);
        }
    }
    o.push_str("# EOF\n");
    o
}

pub(crate) fn write(dir: &Path, series: &[Series]) -> Result<(), ReportError> {
    let p = dir.join("metrics.prom");
    std::fs::write(&p, render(series)).map_err(io(&p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_contiguous_and_values_escaped() {
        let s = |name: &str, target: &str, v: f64| Series {
            family: name.into(),
            kind: "gauge",
            name: name.into(),
            help: "h",
            labels: vec![("target".into(), target.into())],
            value: v,
        };
        let text = render(&[s("b", "x", 1.0), s("a", "q\"\\\n", 0.5), s("b", "y", 2.0)]);
        assert_eq!(
            text,
            "# HELP a h\n# TYPE a gauge\na{target=\"q\\\"\\\\\\n\"} 0.5\n# HELP b h\n# TYPE b gauge\nb{target=\"x\"} 1\nb{target=\"y\"} 2\n# EOF\n"
        );
    }
}
