//! `junit.xml` for CI systems.

use std::fmt::Write as _;
use std::path::Path;

use super::error::ReportError;
use crate::measure::threshold::Check;

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `junit.xml` (or `junit-<suite>.xml`): one test case per check.
pub fn write_junit(dir: &Path, suite: &str, checks: &[Check]) -> Result<(), ReportError> {
    let failures = checks.iter().filter(|c| !c.passed).count();
    let mut x = String::new();
    let _ = writeln!(x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    let _ = writeln!(
        x,
        "<testsuites><testsuite name=\"cutover {}\" tests=\"{}\" failures=\"{failures}\">",
        xml_escape(suite),
        checks.len()
    );
    for c in checks {
        let _ = write!(
            x,
            "  <testcase classname=\"cutover.{}\" name=\"{}\">",
            xml_escape(&c.scope.replace(' ', "_")),
            xml_escape(&c.expression)
        );
        if !c.passed {
            let _ = write!(x, "<failure message=\"{}\"/>", xml_escape(&c.measured));
        }
        let _ = writeln!(
            x,
            "<system-out>{}</system-out></testcase>",
            xml_escape(&c.measured)
        );
    }
    let _ = writeln!(x, "</testsuite></testsuites>");
    let name = if suite == "thresholds" {
        "junit.xml".to_string()
    } else {
        format!("junit-{suite}.xml")
    };
    let p = dir.join(name);
    std::fs::write(&p, x).map_err(|source| ReportError::Io {
        path: p.display().to_string(),
        source,
    })
}
