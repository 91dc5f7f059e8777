//! `junit.xml` for CI systems: one test case per threshold, per verdict row and per judged canary phase, rendered
//! from the [`Decision`]. A failed threshold or a row judged worse is a failure; a threshold without data, a row
//! with too few samples or an undecided phase is skipped, never passing.

use std::fmt::Write as _;
use std::path::Path;

use super::error::ReportError;
use crate::format::escape_xml;
use crate::measure::decision::{Decision, DecisionKind};

enum Status {
    Pass,
    Fail,
    Skip,
}

struct Case {
    class: String,
    name: String,
    status: Status,
    message: String,
}

fn cases(d: &Decision) -> Vec<Case> {
    let mut out = Vec::new();
    for c in &d.checks {
        out.push(Case {
            class: c.scope.replace(' ', "_"),
            name: c.expression.clone(),
            status: if c.passed {
                Status::Pass
            } else if c.no_data {
                Status::Skip
            } else {
                Status::Fail
            },
            message: c.measured.clone(),
        });
    }
    for p in &d.pairs {
        for r in &p.rows {
            out.push(Case {
                class: format!("verdict.{}_vs_{}", p.b, p.a),
                name: format!("{} not worse", r.metric),
                status: if r.worse {
                    Status::Fail
                } else if r.insufficient() {
                    Status::Skip
                } else {
                    Status::Pass
                },
                message: r.verdict.clone(),
            });
        }
    }
    for r in d.reasons.iter().filter(|r| r.scope == "plan") {
        out.push(Case {
            class: "plan".into(),
            name: "comparable plans".into(),
            status: Status::Skip,
            message: r.text.clone(),
        });
    }
    for p in &d.phases {
        out.push(Case {
            class: "canary".into(),
            name: format!("phase {}", p.name),
            status: match p.kind {
                DecisionKind::Safe => Status::Pass,
                DecisionKind::NotSafe => Status::Fail,
                DecisionKind::Undecided => Status::Skip,
            },
            message: p.text.clone(),
        });
    }
    out
}

/// `junit.xml` (or `junit-<suite>.xml`) of a decision.
pub(crate) fn write_junit(dir: &Path, suite: &str, decision: &Decision) -> Result<(), ReportError> {
    let cases = cases(decision);
    let count = |f: fn(&Status) -> bool| cases.iter().filter(|c| f(&c.status)).count();
    let failures = count(|s| matches!(s, Status::Fail));
    let skipped = count(|s| matches!(s, Status::Skip));
    let mut x = String::new();
    let _ = writeln!(x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    let _ = writeln!(
        x,
        "<testsuites><testsuite name=\"cutover {}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\">",
        escape_xml(suite),
        cases.len()
    );
    let _ = writeln!(
        x,
        "  <properties><property name=\"decision\" value=\"{}\"/></properties>",
        decision.kind.as_str()
    );
    for c in &cases {
        let _ = write!(
            x,
            "  <testcase classname=\"cutover.{}\" name=\"{}\">",
            escape_xml(&c.class),
            escape_xml(&c.name)
        );
        match c.status {
            Status::Pass => {}
            Status::Fail => {
                let _ = write!(x, "<failure message=\"{}\"/>", escape_xml(&c.message));
            }
            Status::Skip => {
                let _ = write!(x, "<skipped message=\"{}\"/>", escape_xml(&c.message));
            }
        }
        let _ = writeln!(
            x,
            "<system-out>{}</system-out></testcase>",
            escape_xml(&c.message)
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
