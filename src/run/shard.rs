//! Deterministic shards of a run (issue 16): shard I of N runs the conversations whose arrival index k has
//! `k % N == I`, drawn from the whole seeded schedule, so the union of the N shards is the unsharded run's traffic,
//! each conversation in exactly one shard with all its turns, and every random draw (user, turns, models, canary path)
//! is the unsharded run's. A shard enforces 1/N of the scenario's caps, so N shards together stay within them.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::config::scenario::Limits;

/// Shard `index` (0-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub(crate) index: u64,
    pub(crate) count: u64,
}

/// The environment variable Kubernetes sets in the pods of an Indexed Job.
pub(crate) const INDEX_ENV: &str = "JOB_COMPLETION_INDEX";

impl Shard {
    /// The shard from `--shard I/N`, or from `--shard-count N` and the value of `JOB_COMPLETION_INDEX` (`env`).
    /// `Ok(None)`: neither flag (an unsharded run). Errors are one line naming the flag.
    pub(crate) fn from_flags(
        shard: Option<&str>,
        count: Option<&str>,
        env: Option<&str>,
    ) -> Result<Option<Shard>, String> {
        let n = |flag: &str, v: &str| -> Result<u64, String> {
            let n: u64 = v
                .trim()
                .parse()
                .map_err(|_| format!("{flag}: `{v}` is not a whole number"))?;
            if n < 1 {
                return Err(format!(
                    "{flag}: the shard count must be at least 1, not {n}"
                ));
            }
            Ok(n)
        };
        let (index, count) = match (shard, count) {
            (None, None) => return Ok(None),
            (Some(_), Some(_)) => {
                return Err("--shard and --shard-count: give one of them, not both".into())
            }
            (Some(s), None) => {
                let (i, c) = s
                    .split_once('/')
                    .ok_or_else(|| format!("--shard: `{s}` is not I/N (e.g. 0/3)"))?;
                let index = i
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| format!("--shard: `{s}`: index `{i}` is not a whole number"))?;
                (index, n("--shard", c)?)
            }
            (None, Some(c)) => {
                let count = n("--shard-count", c)?;
                let v = env.ok_or_else(|| {
                    format!("--shard-count: {INDEX_ENV} is not set (Kubernetes sets it in Indexed Job pods)")
                })?;
                let index = v.trim().parse::<u64>().map_err(|_| {
                    format!("--shard-count: {INDEX_ENV}=`{v}` is not a whole number")
                })?;
                (index, count)
            }
        };
        let flag = if shard.is_some() {
            "--shard"
        } else {
            "--shard-count"
        };
        if index >= count {
            return Err(format!(
                "{flag}: shard index {index} is not below the shard count {count}"
            ));
        }
        Ok(Some(Shard { index, count }))
    }

    /// Whether the conversation with arrival index `k` belongs to this shard.
    pub(crate) fn owns(&self, k: u64) -> bool {
        k % self.count == self.index
    }

    /// This shard's share of a closed run's `vus` virtual users: the N shares differ by at most one and add up to
    /// `vus` (0 when `vus` < N: the run refuses such a shard count).
    pub(crate) fn vus(&self, vus: u32) -> u32 {
        let (v, i, n) = (u64::from(vus), self.index, self.count);
        (v * (i + 1) / n - v * i / n) as u32
    }

    /// This shard's share of the scenario's caps: 1/N of each, rounded up.
    pub(crate) fn limits(&self, l: &Limits) -> Limits {
        let n = self.count;
        Limits {
            max_rps: l.max_rps / n as f64,
            max_in_flight: l.max_in_flight.div_ceil(n as usize).max(1),
            max_requests: l.max_requests.div_ceil(n),
            max_spend_usd: l.max_spend_usd.map(|s| s / n as f64),
            ..l.clone()
        }
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Which conversations a run sends and the instant its schedule is measured from.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Slice {
    pub(crate) shard: Option<Shard>,
    /// The common start instant (`--start-at`), possibly in the past for a late shard; `None`: now.
    pub(crate) start: Option<Instant>,
}

impl Slice {
    pub(crate) fn owns(&self, k: u64) -> bool {
        self.shard.is_none_or(|s| s.owns(k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_and_refuse_by_name() {
        let s = |a, c, e| Shard::from_flags(a, c, e);
        assert_eq!(s(None, None, Some("4")), Ok(None));
        assert_eq!(
            s(Some("1/3"), None, None),
            Ok(Some(Shard { index: 1, count: 3 }))
        );
        assert_eq!(
            s(None, Some("3"), Some("2")),
            Ok(Some(Shard { index: 2, count: 3 }))
        );
        for (a, c, e, word) in [
            (Some("3/3"), None, None, "--shard:"),
            (Some("0/0"), None, None, "--shard:"),
            (Some("x/3"), None, None, "--shard:"),
            (Some("1"), None, None, "--shard:"),
            (
                Some("0/2"),
                Some("2"),
                Some("0"),
                "--shard and --shard-count",
            ),
            (None, Some("3"), None, "JOB_COMPLETION_INDEX is not set"),
            (None, Some("3"), Some("one"), "JOB_COMPLETION_INDEX=`one`"),
            (None, Some("3"), Some("3"), "--shard-count: shard index 3"),
            (None, Some("0"), Some("0"), "--shard-count:"),
        ] {
            let err = s(a, c, e).unwrap_err();
            assert!(err.contains(word), "{a:?} {c:?} {e:?}: {err}");
        }
    }

    #[test]
    fn every_index_is_in_exactly_one_shard() {
        let shards: Vec<Shard> = (0..3).map(|index| Shard { index, count: 3 }).collect();
        for k in 0..100 {
            assert_eq!(shards.iter().filter(|s| s.owns(k)).count(), 1, "{k}");
        }
        assert!(Slice::default().owns(7));
    }

    #[test]
    fn closed_virtual_users_split_into_shares_that_add_up() {
        // 10 VUs over 3 shards: 3, 3, 4 (floor(10 (i+1) / 3) - floor(10 i / 3) = 3-0, 6-3, 10-6).
        let shares: Vec<u32> = (0..3)
            .map(|index| Shard { index, count: 3 }.vus(10))
            .collect();
        assert_eq!(shares, vec![3, 3, 4]);
        assert_eq!(Shard { index: 0, count: 1 }.vus(64), 64);
        // fewer VUs than shards: some shares are 0 (refused by `run`)
        let shares: Vec<u32> = (0..4)
            .map(|index| Shard { index, count: 4 }.vus(2))
            .collect();
        assert_eq!(shares, vec![0, 1, 0, 1]);
    }

    #[test]
    fn a_shard_enforces_its_share_of_the_caps_rounded_up() {
        let l: Limits = serde_yaml::from_str(
            "{max_rps: 400, max_in_flight: 2000, max_requests: 50001, max_spend_usd: 3}",
        )
        .unwrap();
        let s = Shard { index: 0, count: 3 }.limits(&l);
        assert_eq!(
            (s.max_in_flight, s.max_requests),
            (667, 16_667),
            "2000/3 and 50001/3 rounded up"
        );
        assert!((s.max_rps * 3.0 - 400.0).abs() < 1e-9);
        assert!((s.max_spend_usd.unwrap() * 3.0 - 3.0).abs() < 1e-9);
        assert_eq!(s.request_timeout_s, l.request_timeout_s);
    }
}
