//! `fallback: legacy` through the binary: a gateway whose every chat fails (the mock's `errors.rate: 1.0`) falls
//! back to a healthy Coze legacy (no random errors, no 429s). Expected figures come from this plan and from
//! requests.csv counted here: every gateway chat fails after its one retry, so every one falls back and is rescued;
//! the legacy never falls back; each scheduled request is still exactly one row.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BIN: &str = env!("CARGO_BIN_EXE_cutover");

/// A bundled mock profile with its random errors and 429s set by this test.
fn profile(dir: &Path, name: &str, errors_from: &str, errors: &str, limit_from: &str) -> String {
    let text = std::fs::read_to_string(format!("{ROOT}/mocks/{name}.yaml")).unwrap();
    assert!(text.contains(errors_from) && text.contains(limit_from));
    let text = text
        .replacen(errors_from, errors, 1)
        .replacen(limit_from, "  rate: 0.0\n", 1);
    let p = dir.join(format!("{name}.yaml"));
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// The bundled migration scenario with a failing gateway that falls back to a healthy legacy; `fallback_line` is
/// inserted under the gateway target.
fn scenario(dir: &Path, fallback_line: &str) -> PathBuf {
    let gw = profile(
        dir,
        "gateway",
        "  rate: 0.002                   # probability per request",
        "  rate: 1.0                     # probability per request",
        "  rate: 0.002\n",
    );
    let legacy = profile(
        dir,
        "legacy",
        "  rate: 0.012                   # probability per chat",
        "  rate: 0.0                     # probability per chat",
        "  rate: 0.003\n",
    );
    let text = std::fs::read_to_string(format!("{ROOT}/scenarios/coze-migration.yaml"))
        .unwrap()
        .replace("mock: ../mocks/gateway.yaml", &format!("mock: {gw}"))
        .replace("mock: ../mocks/legacy.yaml", &format!("mock: {legacy}"))
        .replace("prices: ../prices/", &format!("prices: {ROOT}/prices/"))
        .replace(
            "    api_key_env: GATEWAY_API_KEY\n",
            &format!("    api_key_env: GATEWAY_API_KEY\n{fallback_line}"),
        )
        .replace("max_retries: 3", "max_retries: 1")
        .replace("initial_backoff_ms: 200", "initial_backoff_ms: 10")
        .replace("max_backoff_ms: 4000", "max_backoff_ms: 20");
    let p = dir.join("s.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

fn cutover(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("GATEWAY_API_KEY")
        .env_remove("COZE_API_TOKEN")
        .output()
        .unwrap()
}

#[test]
fn failing_gateway_falls_back_to_healthy_legacy() {
    let tmp = tempfile::tempdir().unwrap();
    scenario(tmp.path(), "    fallback: legacy\n");
    let v = cutover(tmp.path(), &["validate", "s.yaml"]);
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&v.stderr)
    );
    assert!(String::from_utf8_lossy(&v.stdout).contains("fallback: `gateway` -> `legacy`"));

    let out = cutover(tmp.path(), &["run", "s.yaml", "--duration", "2", "--quiet"]);
    let code = out.status.code().unwrap_or(-1);
    // The gateway's own error rate (100%) fails the scenario's thresholds: exit 1, not a crash.
    assert_eq!(code, 1, "{}", String::from_utf8_lossy(&out.stderr));
    let run = std::fs::read_dir(tmp.path().join("reports"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();

    let mut rdr = csv::Reader::from_path(run.join("requests.csv")).unwrap();
    let h = rdr.headers().unwrap().clone();
    let col = |n: &str| {
        h.iter()
            .position(|c| c == n)
            .unwrap_or_else(|| panic!("{n}"))
    };
    let (target, conv, turn, op, outcome) = (
        col("target"),
        col("conversation"),
        col("turn"),
        col("op"),
        col("outcome"),
    );
    let (attempts, cost) = (col("attempts"), col("cost_nano_usd"));
    let (fb, fb_outcome, fb_ms) = (
        col("fallback_target"),
        col("fallback_outcome"),
        col("fallback_latency_ms"),
    );
    let mut keys = BTreeSet::new();
    let (mut gw_chats, mut legacy_chats) = (BTreeSet::new(), BTreeSet::new());
    for r in rdr.records() {
        let r = r.unwrap();
        let key = (
            r[target].to_string(),
            r[conv].to_string(),
            r[turn].to_string(),
        );
        assert!(keys.insert(key.clone()), "two rows for {key:?}");
        assert_eq!(
            &r[outcome],
            if &r[target] == "gateway" {
                "error"
            } else {
                "ok"
            },
            "{r:?}"
        );
        if &r[target] == "legacy" {
            assert_eq!(&r[fb], "", "the legacy has no fallback: {r:?}");
            if &r[op] == "chat" {
                legacy_chats.insert((key.1, key.2));
            }
            continue;
        }
        assert_eq!(&r[op], "chat", "an OpenAI gateway has no create call");
        assert_eq!(
            &r[attempts], "2",
            "max_retries 1: two attempts before falling back"
        );
        assert_eq!(&r[fb], "legacy", "{r:?}");
        assert_eq!(
            &r[fb_outcome], "ok",
            "the healthy legacy rescues every turn: {r:?}"
        );
        let added: f64 = r[fb_ms].parse().unwrap();
        assert!(added > 0.0, "{r:?}");
        // The failed gateway attempts cost nothing; the cost is the legacy's answer.
        assert!(r[cost].parse::<u64>().unwrap() > 0, "{r:?}");
        gw_chats.insert((key.1, key.2));
    }
    // The same planned turns on both targets: each one row, none lost to the fallback path.
    assert!(!gw_chats.is_empty());
    assert_eq!(gw_chats, legacy_chats);

    let n = gw_chats.len();
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    let row = format!("| gateway | legacy | {n} | {n} | {n} | 100.00% | 100.00% | 0.00% |");
    assert!(md.contains("## Fallback"), "{md}");
    assert!(md.contains(&row), "no `{row}` in:\n{md}");

    let doc = common::validate_results(&run);
    let f = &doc["fallbacks"];
    assert_eq!(f.as_array().map(Vec::len), Some(1), "{f}");
    assert_eq!(f[0]["target"], "gateway");
    assert_eq!(f[0]["fell_back"], n as u64);
    assert_eq!(f[0]["error_rate_without"], 1.0);
    assert_eq!(f[0]["error_rate_with"], 0.0);
    assert!(f[0]["added_p50_ms"].as_f64().unwrap() > 0.0, "{f}");
}

#[test]
fn fallback_must_name_another_target_without_its_own_fallback() {
    let tmp = tempfile::tempdir().unwrap();
    for (line, says) in [
        ("    fallback: legacyy\n", "unknown target `legacyy`"),
        ("    fallback: gateway\n", "cannot fall back to itself"),
    ] {
        let p = scenario(tmp.path(), line);
        let v = cutover(tmp.path(), &["validate", "s.yaml"]);
        let err = String::from_utf8_lossy(&v.stderr);
        assert_eq!(v.status.code(), Some(2), "{err}");
        assert!(
            err.contains("targets[1].fallback") && err.contains(says),
            "{err}"
        );
        std::fs::remove_file(p).unwrap();
    }
    // A chain: legacy -> gateway -> legacy.
    let p = scenario(tmp.path(), "    fallback: legacy\n");
    let text = std::fs::read_to_string(&p).unwrap().replace(
        "    api_key_env: COZE_API_TOKEN",
        "    fallback: gateway\n    api_key_env: COZE_API_TOKEN",
    );
    std::fs::write(&p, text).unwrap();
    let v = cutover(tmp.path(), &["validate", "s.yaml"]);
    let err = String::from_utf8_lossy(&v.stderr);
    assert_eq!(v.status.code(), Some(2), "{err}");
    assert!(err.contains("chains are not supported"), "{err}");
}
