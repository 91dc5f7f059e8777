//! A run directory loaded back: `run.json` and `requests.csv` rebuilt into metrics (whole run and per canary phase).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::ReportError;
use super::meta::RunMeta;
use crate::measure::metrics::Metrics;

/// A run directory's metrics, rebuilt from its files.
pub struct Run {
    pub dir: PathBuf,
    pub meta: RunMeta,
    pub metrics: Metrics,
    /// Per canary phase (index -> metrics), when the run was a canary.
    pub phases: BTreeMap<u32, Metrics>,
    /// Requests that fell back to another target, per target (`fallback:` in the scenario).
    pub fallbacks: crate::measure::fallback::Fallbacks,
}

impl Run {
    pub fn load(dir: &Path) -> Result<Run, ReportError> {
        let meta = RunMeta::load(dir)?;
        let p = dir.join("requests.csv");
        let cpd = meta.scenario.traffic.conversations_per_day;
        let window = meta.window_s();
        let mut metrics = Metrics::new(cpd, window);
        let mut phases: BTreeMap<u32, Metrics> = BTreeMap::new();
        let mut fallbacks = crate::measure::fallback::Fallbacks::default();
        let data_err = |e: csv::Error| ReportError::Data {
            path: p.display().to_string(),
            message: e.to_string(),
        };
        for r in crate::run::record::read_records(&p).map_err(data_err)? {
            let r = r.map_err(data_err)?;
            if let Some(ph) = r.canary_phase {
                let d = meta
                    .scenario
                    .canary
                    .as_ref()
                    .and_then(|c| c.phases.get(ph as usize))
                    .map_or(window, |x| x.duration_s);
                phases
                    .entry(ph)
                    .or_insert_with(|| Metrics::new(cpd, d))
                    .add(&r);
            }
            metrics.add(&r);
            fallbacks.add(&r);
        }
        metrics.align_measured_conversations();
        for m in phases.values_mut() {
            m.align_measured_conversations();
        }
        Ok(Run {
            dir: dir.to_path_buf(),
            meta,
            metrics,
            phases,
            fallbacks,
        })
    }

    pub fn role_target(&self, role: &str) -> Option<&str> {
        self.meta
            .targets
            .iter()
            .find(|t| t.role == role)
            .map(|t| t.name.as_str())
    }
}
