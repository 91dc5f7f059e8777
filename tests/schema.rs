//! The JSON Schemas of scenarios and mock profiles: the shipped files are what `cutover schema` prints (so they never
//! drift from the Rust types), every bundled YAML names its schema on line 1 and validates against it with an
//! independent validator (the `jsonschema` crate), and the schema rejects what the loader rejects.

use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Scenario,
    Mock,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Scenario => "scenario",
            Kind::Mock => "mock",
        }
    }
}

fn cutover_schema(kind: Kind) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["schema", kind.word()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn shipped(kind: Kind) -> PathBuf {
    Path::new(ROOT).join(format!("schemas/{}.schema.json", kind.word()))
}

fn validator(kind: Kind) -> jsonschema::Validator {
    let text = std::fs::read_to_string(shipped(kind)).unwrap();
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
}

fn errors(v: &jsonschema::Validator, yaml: &str) -> Vec<String> {
    let doc: serde_json::Value = serde_yaml::from_str(yaml).unwrap();
    v.iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

/// Every bundled scenario and profile, with the kind its folder says it is.
fn bundled() -> Vec<(PathBuf, Kind)> {
    let mut out = Vec::new();
    for (dir, kind) in [
        ("scenarios", Kind::Scenario),
        ("bench/scenarios", Kind::Scenario),
        ("mocks", Kind::Mock),
        ("bench", Kind::Mock),
    ] {
        for e in std::fs::read_dir(Path::new(ROOT).join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "yaml") {
                out.push((p, kind));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn shipped_schemas_are_what_cutover_schema_prints() {
    for kind in [Kind::Scenario, Kind::Mock] {
        let printed = cutover_schema(kind);
        let file = std::fs::read_to_string(shipped(kind)).unwrap_or_default();
        assert!(
            printed == file,
            "{} differs from `cutover schema {}`: regenerate it with `cargo run -q -- schema {1} > {0}`",
            shipped(kind).display(),
            kind.word()
        );
        let doc: serde_json::Value = serde_json::from_str(&printed).unwrap();
        assert_eq!(doc["$schema"], "http://json-schema.org/draft-07/schema#");
        // deny_unknown_fields reaches the schema.
        assert_eq!(doc["additionalProperties"], false, "{}", kind.word());
    }
}

#[test]
fn every_bundled_yaml_names_its_schema_on_line_one_and_validates() {
    let files = bundled();
    // 5 scenarios + 1 bench scenario, 4 profiles + 2 bench profiles at least.
    assert!(files.len() >= 12, "{files:?}");
    let (scenario, mock) = (validator(Kind::Scenario), validator(Kind::Mock));
    for (path, kind) in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let first = text.lines().next().unwrap_or_default();
        let rel = first
            .strip_prefix("# yaml-language-server: $schema=")
            .unwrap_or_else(|| panic!("{}: line 1 is `{first}`", path.display()));
        let target = path.parent().unwrap().join(rel);
        assert_eq!(
            target.canonicalize().unwrap(),
            shipped(kind).canonicalize().unwrap(),
            "{}: names {rel}",
            path.display()
        );
        let v = if kind == Kind::Scenario {
            &scenario
        } else {
            &mock
        };
        let errs = errors(v, &fill_template(&text));
        assert!(errs.is_empty(), "{}: {errs:#?}", path.display());
    }
}

/// bench/compare.sh renders its scenario template by replacing `__KEY__` placeholders: fill them as it does.
fn fill_template(text: &str) -> String {
    [
        ("__NAME__", "bench"),
        ("__PORT__", "9"),
        ("__RATE__", "100"),
        ("__IN_FLIGHT__", "64"),
        ("__STREAM__", "0.5"),
        ("__ROOT__", ROOT),
        // the saturation form (the fixed-rate form is a comment)
        ("__CLOSED__", "closed: {vus: 64}"),
    ]
    .iter()
    .fold(text.to_string(), |t, (k, v)| t.replace(k, v))
}

fn migration() -> String {
    std::fs::read_to_string(Path::new(ROOT).join("scenarios/coze-migration.yaml")).unwrap()
}

fn legacy_profile() -> String {
    std::fs::read_to_string(Path::new(ROOT).join("mocks/legacy.yaml")).unwrap()
}

/// A wrong field type, an unknown key and a threshold without a comparison: the schema rejects each, and so does the
/// loader (the schema describes what `cutover` accepts, not something looser or stricter).
#[test]
fn the_scenario_schema_rejects_what_the_loader_rejects() {
    let v = validator(Kind::Scenario);
    let base = migration();
    assert!(errors(&v, &base).is_empty());
    let cases = [
        ("duration_s: 60", "duration_s: sixty", "/traffic/duration_s"),
        ("  stream_share:", "  stream_sharing:", "/traffic"),
        (
            "\"gateway.p99_ms < 400\"",
            "\"gateway.p99_ms 400\"",
            "/thresholds/0",
        ),
    ];
    for (from, to, at) in cases {
        assert!(base.contains(from), "{from}");
        let bad = base.replacen(from, to, 1);
        let errs = errors(&v, &bad);
        assert!(
            errs.iter().any(|e| e.ends_with(&format!(" at {at}"))),
            "{to}: {errs:#?}"
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.yaml");
        std::fs::write(&p, &bad).unwrap();
        assert!(
            cutover::config::scenario::Scenario::load(&p).is_err(),
            "loader accepted {to}"
        );
    }
}

#[test]
fn the_mock_schema_rejects_a_wrong_type_and_a_bad_retry_after() {
    let v = validator(Kind::Mock);
    let base = legacy_profile();
    assert!(errors(&v, &base).is_empty());
    assert!(base.contains("protocol: coze"));
    let bad = base.replacen("protocol: coze", "protocol: 7", 1);
    assert!(!errors(&v, &bad).is_empty());
    let with = |ra: &str| {
        format!("name: t\nprotocol: openai\nmodels: [m]\nrate_limit: {{rate: 0.1, retry_after: {ra}}}\n")
    };
    for good in ["none", "{seconds: 1.5}", "{http_date_in_s: 2}"] {
        let errs = errors(&v, &with(good));
        assert!(errs.is_empty(), "{good}: {errs:#?}");
        cutover::mock::MockProfile::from_yaml_str(&with(good), "t").unwrap();
    }
    for bad in ["soon", "{seconds: 1, http_date_in_s: 2}", "{minutes: 1}"] {
        assert!(!errors(&v, &with(bad)).is_empty(), "{bad}");
        assert!(
            cutover::mock::MockProfile::from_yaml_str(&with(bad), "t").is_err(),
            "{bad}"
        );
    }
}
