//! A run directory loaded back: `run.json` and `requests.csv` rebuilt into metrics (whole run and per canary phase)
//! and the HdrHistogram interval logs, in one pass over the rows: every figure, chart and export of the report is
//! rendered from what this pass gathers, none reads `requests.csv` again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::ReportError;
use super::meta::RunMeta;
use crate::measure::metrics::Metrics;

/// A run directory's metrics, rebuilt from its files.
pub struct Run {
    pub(crate) dir: PathBuf,
    pub meta: RunMeta,
    pub metrics: Metrics,
    /// Per canary phase (index -> metrics), when the run was a canary.
    pub(crate) phases: BTreeMap<u32, Metrics>,
    /// A trailing partial row of `requests.csv` (cut by a crash or a full disk) was skipped: 0 or 1.
    pub(crate) skipped_partial_rows: u64,
    /// Requests that fell back to another target, per target (`fallback:` in the scenario).
    pub(crate) fallbacks: crate::measure::fallback::Fallbacks,
    /// Webhook events' figures, per webhook target.
    pub(crate) webhooks: crate::measure::webhook::Webhooks,
    /// The interval logs' histograms (`hlog/`), taken by [`super::exports::hlog::write`].
    pub(crate) hlog: Option<super::exports::hlog::Logs>,
}

impl Run {
    pub fn load(dir: &Path) -> Result<Run, ReportError> {
        let mut meta = RunMeta::load(dir)?;
        let p = dir.join("requests.csv");
        let io_err = |e: std::io::Error| ReportError::Data {
            path: p.display().to_string(),
            message: e.to_string(),
        };
        let (file, whole) = crate::run::record::whole_rows_len(&p).map_err(io_err)?;
        let file_len = file.metadata().map_err(io_err)?.len();
        if meta.finished_utc.is_empty() {
            // run.json still holds the plan written before the first request: the run never finished. Its length is
            // the time from the start to the last write of requests.csv.
            meta.elapsed_s = unfinished_elapsed_s(&meta, &file);
        }
        let cpd = meta.scenario.traffic.conversations_per_day;
        let window = meta.window_s();
        let mut metrics = Metrics::new(cpd, window);
        metrics.goodput = meta.scenario.goodput;
        metrics.interval_s = crate::measure::soak::chart_interval_s(meta.elapsed_s);
        let mut phases: BTreeMap<u32, Metrics> = BTreeMap::new();
        let mut fallbacks = crate::measure::fallback::Fallbacks::default();
        let mut webhooks = crate::measure::webhook::Webhooks::default();
        let mut hlog = super::exports::hlog::Logs::new(meta.elapsed_s.max(meta.window_s()));
        let data_err = |e: csv::Error| ReportError::Data {
            path: p.display().to_string(),
            message: e.to_string(),
        };
        crate::run::record::for_each_record(&p, |r| {
            if let Some(ph) = r.canary_phase {
                let d = meta
                    .scenario
                    .canary
                    .as_ref()
                    .and_then(|c| c.phases.get(ph as usize))
                    .map_or(window, |x| x.duration_s);
                phases
                    .entry(ph)
                    .or_insert_with(|| Metrics {
                        goodput: meta.scenario.goodput,
                        ..Metrics::new(cpd, d)
                    })
                    .add(r);
            }
            metrics.add(r);
            fallbacks.add(r);
            webhooks.add(r);
            hlog.add(r);
            Ok(())
        })
        .map_err(data_err)?;
        metrics.align_measured_conversations();
        for m in phases.values_mut() {
            m.align_measured_conversations();
        }
        Ok(Run {
            dir: dir.to_path_buf(),
            meta,
            metrics,
            phases,
            skipped_partial_rows: u64::from(whole < file_len),
            fallbacks,
            webhooks,
            hlog: Some(hlog),
        })
    }

    /// A note for the reader when the run's files are incomplete, else `None`.
    pub fn partial_note(&self) -> Option<String> {
        (self.skipped_partial_rows > 0).then(|| {
            format!(
                "skipped {} partial trailing row of requests.csv (the run was cut off mid-write)",
                self.skipped_partial_rows
            )
        })
    }

    pub(crate) fn role_target(&self, role: &str) -> Option<&str> {
        self.meta
            .targets
            .iter()
            .find(|t| t.role == role)
            .map(|t| t.name.as_str())
    }
}

fn unfinished_elapsed_s(meta: &RunMeta, csv: &std::fs::File) -> f64 {
    let started = chrono::DateTime::parse_from_rfc3339(&meta.started_utc).ok();
    let modified = csv.metadata().and_then(|m| m.modified()).ok();
    match (started, modified) {
        (Some(s), Some(m)) => {
            let m: chrono::DateTime<chrono::Utc> = m.into();
            ((m - s.with_timezone(&chrono::Utc)).num_milliseconds() as f64 / 1000.0).max(0.001)
        }
        _ => meta.elapsed_s,
    }
}
