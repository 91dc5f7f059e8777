//! `run.json`: the resolved plan and facts of a run. Holds no secret: keys are named by their variable only.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::{io, ReportError};
use crate::config::scenario::Scenario;
use crate::run::shard::Shard;
use crate::run::sink::Accounting;

/// The resolved plan and facts of a run (`run.json`). Holds no secret: keys are named by their variable only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunMeta {
    pub(crate) tool: String,
    pub(crate) version: String,
    pub(crate) scenario_file: String,
    /// sha256 of the scenario file's text (hex); compare refuses runs of different scenarios.
    #[serde(default)]
    pub(crate) scenario_sha256: Option<String>,
    pub(crate) started_utc: String,
    pub(crate) finished_utc: String,
    pub(crate) elapsed_s: f64,
    /// Why the run stopped early (`interrupted (SIGINT)`, `max_duration_s reached`), if it did.
    pub stopped: Option<String>,
    pub(crate) targets: Vec<TargetMeta>,
    pub accounting: Vec<Accounting>,
    pub(crate) scenario: Scenario,
    pub(crate) prices: BTreeMap<String, (f64, f64)>,
    /// The shard this run was (`run --shard`); `None` for an unsharded or a merged run.
    #[serde(default)]
    pub(crate) shard: Option<Shard>,
    /// The scenario's seed (also inside `scenario`; here so shards can be matched at a glance).
    #[serde(default)]
    pub(crate) seed: Option<u64>,
    /// The common start instant (`run --start-at`) the schedule was measured from, as given.
    #[serde(default)]
    pub(crate) start_at: Option<String>,
    /// [`plan_hash`] of `scenario` and `prices`: equal exactly when two runs ran the same plan.
    #[serde(default)]
    pub(crate) scenario_hash: Option<String>,
    /// The shards a merged run was made of (`cutover merge`), by index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) merged_from: Vec<MergedFrom>,
}

/// One shard of a merged run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MergedFrom {
    pub(crate) index: u64,
    pub(crate) dir: String,
    pub(crate) started_utc: String,
    pub(crate) finished_utc: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetMeta {
    pub(crate) name: String,
    pub(crate) role: String,
    pub(crate) protocol: String,
    /// `http://127.0.0.1:PORT (mock mocks/gateway.yaml)` or the base URL.
    pub(crate) endpoint: String,
    pub(crate) api_key_env: Option<String>,
}

/// sha256 of a text, lower-case hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl RunMeta {
    pub fn load(dir: &Path) -> Result<RunMeta, ReportError> {
        let p = dir.join("run.json");
        let text = std::fs::read_to_string(&p).map_err(io(&p))?;
        serde_json::from_str(&text).map_err(|e| ReportError::Data {
            path: p.display().to_string(),
            message: e.to_string(),
        })
    }

    pub(crate) fn save(&self, dir: &Path) -> Result<(), ReportError> {
        let p = dir.join("run.json");
        let text = serde_json::to_string_pretty(self).expect("serialisable");
        std::fs::write(&p, text).map_err(io(&p))
    }

    /// Seconds of measured arrivals: the window (or the elapsed time if shorter) after the warm-up.
    pub fn window_s(&self) -> f64 {
        let t = &self.scenario.traffic;
        (t.duration_s.min(self.elapsed_s.max(0.001)) - t.warmup_s).max(0.001)
    }
}

/// A hex digest of the resolved plan (the scenario as run, after CLI overrides, and the price map), independent of the
/// scenario file's path and formatting: FNV-1a (128 bit) over JSON with sorted keys. A consistency check between
/// shards of one run, not a security measure.
pub(crate) fn plan_hash(scenario: &Scenario, prices: &BTreeMap<String, (f64, f64)>) -> String {
    let v = serde_json::json!({ "scenario": scenario, "prices": prices });
    let mut text = String::new();
    canonical(&v, &mut text);
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in text.bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000000001000000000000000000013B);
    }
    format!("{h:032x}")
}

/// JSON text with every object's keys sorted, whatever map type serde_json was built with.
fn canonical(v: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_hash_follows_the_plan_not_the_text() {
        let p =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/coze-migration.yaml");
        let s = crate::config::scenario::Scenario::load(&p)
            .unwrap()
            .scenario;
        let prices = BTreeMap::from([("m".to_string(), (1.0, 2.0))]);
        let h = plan_hash(&s, &prices);
        assert_eq!(h.len(), 32);
        // Another run of the same plan (a fresh load: maps rebuilt) agrees.
        let again = crate::config::scenario::Scenario::load(&p)
            .unwrap()
            .scenario;
        assert_eq!(plan_hash(&again, &prices), h);
        let mut seed = s.clone();
        seed.seed += 1;
        assert_ne!(plan_hash(&seed, &prices), h, "another seed");
        let mut dur = s.clone();
        dur.traffic.duration_s = 4.0;
        assert_ne!(plan_hash(&dur, &prices), h, "a --duration override");
        let other = BTreeMap::from([("m".to_string(), (1.0, 2.5))]);
        assert_ne!(plan_hash(&s, &other), h, "another price");
    }
}
