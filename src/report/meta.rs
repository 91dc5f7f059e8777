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

    /// Seconds of measured arrivals: the window (or the elapsed time if shorter) after the warm-up.
    pub fn window_s(&self) -> f64 {
        let t = &self.scenario.traffic;
        (t.duration_s.min(self.elapsed_s.max(0.001)) - t.warmup_s).max(0.001)
    }
}
