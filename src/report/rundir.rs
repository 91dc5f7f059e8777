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
        let pass = match Pass::read(&meta, &p, true) {
            Some(pass) => pass,
            // The fast reader declined a row: the reference reader reads the file again, with its values or errors.
            None => Pass::read(&meta, &p, false).expect("the reference reader is never declined"),
        }
        .map_err(|e: csv::Error| ReportError::Data {
            path: p.display().to_string(),
            message: e.to_string(),
        })?;
        let Pass {
            mut metrics,
            mut phases,
            fallbacks,
            webhooks,
            hlog,
        } = pass;
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

/// Everything the report gathers from requests.csv, in one pass over its rows.
struct Pass {
    metrics: Metrics,
    phases: BTreeMap<u32, Metrics>,
    fallbacks: crate::measure::fallback::Fallbacks,
    webhooks: crate::measure::webhook::Webhooks,
    hlog: super::exports::hlog::Logs,
}

impl Pass {
    fn new(meta: &RunMeta) -> Pass {
        let mut metrics =
            Metrics::new(meta.scenario.traffic.conversations_per_day, meta.window_s());
        metrics.goodput = meta.scenario.goodput;
        metrics.interval_s = crate::measure::soak::chart_interval_s(meta.elapsed_s);
        Pass {
            metrics,
            phases: BTreeMap::new(),
            fallbacks: Default::default(),
            webhooks: Default::default(),
            hlog: super::exports::hlog::Logs::new(meta.elapsed_s.max(meta.window_s())),
        }
    }

    /// The pass over `path`: with the fast reader (`fast`; None when it declined the file) or the reference one.
    fn read(meta: &RunMeta, path: &Path, fast: bool) -> Option<Result<Pass, csv::Error>> {
        let mut pass = Pass::new(meta);
        if fast {
            super::rows::for_each_fast(path, |r| pass.add(meta, r)).ok()?;
            return Some(Ok(pass));
        }
        let read = crate::run::record::for_each_record(path, |r| {
            pass.add(meta, r);
            Ok::<(), csv::Error>(())
        });
        Some(read.map(|()| pass))
    }

    fn add(&mut self, meta: &RunMeta, r: &crate::run::record::Record) {
        if let Some(ph) = r.canary_phase {
            let cpd = meta.scenario.traffic.conversations_per_day;
            let d = meta
                .scenario
                .canary
                .as_ref()
                .and_then(|c| c.phases.get(ph as usize))
                .map_or(meta.window_s(), |x| x.duration_s);
            self.phases
                .entry(ph)
                .or_insert_with(|| Metrics {
                    goodput: meta.scenario.goodput,
                    ..Metrics::new(cpd, d)
                })
                .add(r);
        }
        self.metrics.add(r);
        self.fallbacks.add(r);
        self.webhooks.add(r);
        self.hlog.add(r);
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
