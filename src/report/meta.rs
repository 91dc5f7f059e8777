//! `run.json`: the resolved plan and facts of a run. Holds no secret: keys are named by their variable only.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::{io, ReportError};
use crate::config::scenario::Scenario;
use crate::run::sink::Accounting;

/// The resolved plan and facts of a run (`run.json`). Holds no secret: keys are named by their variable only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunMeta {
    pub tool: String,
    pub version: String,
    pub scenario_file: String,
    /// sha256 of the scenario file's text (hex); compare refuses runs of different scenarios.
    #[serde(default)]
    pub scenario_sha256: Option<String>,
    pub started_utc: String,
    pub finished_utc: String,
    pub elapsed_s: f64,
    /// Why the run stopped early (`interrupted (SIGINT)`, `max_duration_s reached`), if it did.
    pub stopped: Option<String>,
    pub targets: Vec<TargetMeta>,
    pub accounting: Vec<Accounting>,
    pub scenario: Scenario,
    pub prices: BTreeMap<String, (f64, f64)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetMeta {
    pub name: String,
    pub role: String,
    pub protocol: String,
    /// `http://127.0.0.1:PORT (mock mocks/gateway.yaml)` or the base URL.
    pub endpoint: String,
    pub api_key_env: Option<String>,
}

/// sha256 of a text, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
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

    pub fn save(&self, dir: &Path) -> Result<(), ReportError> {
        let p = dir.join("run.json");
        let text = serde_json::to_string_pretty(self).expect("serialisable");
        std::fs::write(&p, text).map_err(io(&p))
    }

    pub fn window_s(&self) -> f64 {
        self.scenario
            .traffic
            .duration_s
            .min(self.elapsed_s.max(0.001))
    }
}
