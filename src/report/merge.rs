//! `cutover merge`: the run directories of N shards (issue 16) become one run directory, as if one process had sent
//! all the traffic. The shards must belong together (same shard count, seed, plan and start instant; every index once),
//! else nothing is written. The rows are concatenated, `run.json` describes the whole run (accounting summed, the
//! window the longest shard's), and [`super::render`] then computes everything else from the rows: counts, tokens and
//! costs sum exactly, quantiles are the rows' quantiles, and the monthly projection stays cost per conversation times
//! the daily volume, not N times it.
//!
//! `chunk_gaps.csv` is not merged: each shard kept only the quantiles of its pooled chunk gaps, which do not combine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::{io, ReportError};
use super::meta::{MergedFrom, RunMeta};
use crate::run::record::{csv_header, read_records, Record};
use crate::run::shard::Shard;
use crate::run::sink::Accounting;

#[derive(Debug, thiserror::Error)]
pub(crate) enum MergeError {
    /// The inputs are not shards of one run, or `--out` is taken: bad input, nothing written.
    #[error("{0}")]
    Refused(String),
    /// Writing the merged directory failed.
    #[error(transparent)]
    Write(#[from] ReportError),
}

use MergeError::Refused;

struct Input {
    dir: PathBuf,
    meta: RunMeta,
    shard: Shard,
}

/// Merge the shard run directories `inputs` (each a run directory or a folder holding exactly one) into `out`.
pub(crate) fn merge(inputs: &[PathBuf], out: &Path) -> Result<RunMeta, MergeError> {
    if inputs.is_empty() {
        return Err(Refused("merge: no shard directories given".into()));
    }
    let mut shards = Vec::new();
    for i in inputs {
        let dir = run_dir_of(i)?;
        let meta = RunMeta::load(&dir).map_err(|e| Refused(format!("merge: {e}")))?;
        let shard = meta.shard.ok_or_else(|| {
            Refused(format!(
                "merge: {} is not a shard (run.json has no shard)",
                dir.display()
            ))
        })?;
        shards.push(Input { dir, meta, shard });
    }
    shards.sort_by(|a, b| (a.shard.index, &a.dir).cmp(&(b.shard.index, &b.dir)));
    check_together(&shards)?;
    if out.join("run.json").exists() {
        return Err(Refused(format!(
            "merge: --out {} already holds a run (run.json); choose an empty folder",
            out.display()
        )));
    }
    let rows = read_rows(&shards)?;
    std::fs::create_dir_all(out).map_err(io(out))?;
    write_rows(&out.join("requests.csv"), &rows)?;
    let meta = merged_meta(&shards);
    meta.save(out)?;
    Ok(meta)
}

/// A run directory (it holds `run.json`), or a folder holding exactly one (as `run --out` makes).
fn run_dir_of(p: &Path) -> Result<PathBuf, MergeError> {
    if p.join("run.json").is_file() {
        return Ok(p.to_path_buf());
    }
    let entries =
        std::fs::read_dir(p).map_err(|e| Refused(format!("merge: {}: {e}", p.display())))?;
    let found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|d| d.join("run.json").is_file())
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Refused(format!(
            "merge: {} is not a run directory and holds none (no run.json)",
            p.display()
        ))),
        _ => Err(Refused(format!(
            "merge: {} holds {} run directories; give the one that is the shard",
            p.display(),
            found.len()
        ))),
    }
}

/// Same count, seed, plan and start instant as the first shard; every index from 0 to N-1 exactly once.
fn check_together(shards: &[Input]) -> Result<(), MergeError> {
    let first = &shards[0];
    type Field = (&'static str, fn(&Input) -> String);
    let fields: [Field; 4] = [
        ("shard count", |s| s.shard.count.to_string()),
        ("seed", |s| {
            s.meta.seed.map_or("none".into(), |x| x.to_string())
        }),
        ("scenario hash", |s| {
            s.meta
                .scenario_hash
                .clone()
                .unwrap_or_else(|| "none".into())
        }),
        ("start_at", |s| {
            s.meta.start_at.clone().unwrap_or_else(|| "none".into())
        }),
    ];
    for (name, get) in fields {
        let want = get(first);
        if let Some(other) = shards.iter().find(|s| get(s) != want) {
            return Err(Refused(format!(
                "merge: shards disagree on {name}: {} has {want}, {} has {}",
                first.dir.display(),
                other.dir.display(),
                get(other)
            )));
        }
    }
    let n = first.shard.count;
    let mut by_index: BTreeMap<u64, Vec<&Path>> = BTreeMap::new();
    for s in shards {
        by_index.entry(s.shard.index).or_default().push(&s.dir);
    }
    if let Some((i, dirs)) = by_index.iter().find(|(_, d)| d.len() > 1) {
        let list: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        return Err(Refused(format!(
            "merge: shard {i}/{n} is given twice: {}",
            list.join(", ")
        )));
    }
    let missing: Vec<String> = (0..n)
        .filter(|i| !by_index.contains_key(i))
        .map(|i| format!("{i}/{n}"))
        .collect();
    if !missing.is_empty() {
        let (word, verb) = if missing.len() == 1 {
            ("shard", "is")
        } else {
            ("shards", "are")
        };
        return Err(Refused(format!(
            "merge: {word} {} {verb} missing",
            missing.join(", ")
        )));
    }
    Ok(())
}

/// Every shard's rows once, sorted by planned instant, then target, conversation and turn.
fn read_rows(shards: &[Input]) -> Result<Vec<Record>, MergeError> {
    let mut rows = Vec::new();
    for s in shards {
        let p = s.dir.join("requests.csv");
        let bad = |e: csv::Error| Refused(format!("merge: {}: {e}", p.display()));
        for r in read_records(&p).map_err(bad)? {
            rows.push(r.map_err(bad)?);
        }
    }
    rows.sort_by(|a, b| {
        a.scheduled_ms
            .total_cmp(&b.scheduled_ms)
            .then_with(|| a.target.cmp(&b.target))
            .then(a.conversation.cmp(&b.conversation))
            .then(a.turn.cmp(&b.turn))
    });
    Ok(rows)
}

fn write_rows(p: &Path, rows: &[Record]) -> Result<(), ReportError> {
    let err = |e: csv::Error| ReportError::Data {
        path: p.display().to_string(),
        message: e.to_string(),
    };
    let mut w = csv::Writer::from_path(p).map_err(err)?;
    if rows.is_empty() {
        w.write_record(csv_header()).map_err(err)?;
    }
    for r in rows {
        w.serialize(r).map_err(err)?;
    }
    w.flush().map_err(io(p))
}

/// The whole run's `run.json`: the shards' common plan, the earliest start and latest finish, the longest elapsed
/// time, accounting summed per target, and where each shard came from.
fn merged_meta(shards: &[Input]) -> RunMeta {
    let mut meta = shards[0].meta.clone();
    let instant = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
    let earliest = shards
        .iter()
        .map(|s| &s.meta.started_utc)
        .min_by_key(|t| (instant(t), (*t).clone()));
    let latest = shards
        .iter()
        .map(|s| &s.meta.finished_utc)
        .max_by_key(|t| (instant(t), (*t).clone()));
    meta.started_utc = earliest.cloned().unwrap_or_default();
    meta.finished_utc = latest.cloned().unwrap_or_default();
    meta.elapsed_s = shards.iter().map(|s| s.meta.elapsed_s).fold(0.0, f64::max);
    let stopped: Vec<String> = shards
        .iter()
        .filter_map(|s| Some(format!("shard {}: {}", s.shard, s.meta.stopped.as_ref()?)))
        .collect();
    meta.stopped = (!stopped.is_empty()).then(|| stopped.join("; "));
    let mut acc: Vec<Accounting> = Vec::new();
    for a in shards.iter().flat_map(|s| &s.meta.accounting) {
        let i = acc
            .iter()
            .position(|x| x.target == a.target)
            .unwrap_or_else(|| {
                acc.push(Accounting {
                    target: a.target.clone(),
                    ..Default::default()
                });
                acc.len() - 1
            });
        let m = &mut acc[i];
        m.scheduled += a.scheduled;
        m.ok += a.ok;
        m.errors += a.errors;
        m.cancelled += a.cancelled;
        m.not_sent += a.not_sent;
    }
    meta.accounting = acc;
    meta.shard = None;
    meta.merged_from = shards
        .iter()
        .map(|s| MergedFrom {
            index: s.shard.index,
            dir: s.dir.display().to_string(),
            started_utc: s.meta.started_utc.clone(),
            finished_utc: s.meta.finished_utc.clone(),
        })
        .collect();
    meta
}

/// The line a shard's or a merged run's report opens with: what its figures cover.
pub(crate) fn note(m: &RunMeta) -> Option<String> {
    let at = m
        .start_at
        .as_ref()
        .map(|t| format!(", common start instant {t}"))
        .unwrap_or_default();
    if let Some(s) = m.shard {
        return Some(format!(
            "> **Shard {s}** of a sharded run{at}: these figures are this shard's 1/{} of the conversations, and its \
             thresholds are shown but not applied. `cutover merge` of all {} shards gives the run's report.",
            s.count, s.count
        ));
    }
    (!m.merged_from.is_empty()).then(|| {
        format!(
            "> **Merged** from {} shards (`cutover merge`{at}): every shard's requests once; counts, tokens and costs \
             are their sums, quantiles those of all the rows. `chunk_gaps.csv` is per shard only.",
            m.merged_from.len()
        )
    })
}

#[cfg(test)]
mod tests;
