//! `traffic.shape`: how the offered arrival rate moves over the run. Exactly one of the keys below; without a shape
//! the rate is constant at `conversations_per_day / 86,400 x time_scale`.
//!
//! Every rate is **conversations per second of wall time** (what the targets see), except `diurnal`, whose hourly
//! weights share out `conversations_per_day`. After its last segment a shape holds its last rate until
//! `traffic.duration_s`, where arrivals stop.
//!
//! ```yaml
//! shape: {ramp: {from: 1, to: 20, over_s: 60}}
//! shape: {steps: [{rate: 5, hold_s: 30}, {rate: 10, hold_s: 30}]}
//! shape: {spike: {base: 5, peak: 40, at_s: 30, duration_s: 10}}
//! shape: {diurnal: {hourly_weights: [24 numbers], replay_hour: peak}}   # or time_scale compresses the whole day
//! shape: {constant: {rate: 12}}
//! ```

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Shape {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) constant: Option<Constant>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ramp: Option<Ramp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) steps: Option<Vec<Step>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) diurnal: Option<Diurnal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) spike: Option<Spike>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Constant {
    /// Conversations per wall second.
    pub(crate) rate: f64,
}

/// Linear from `from` to `to` over `over_s` seconds, then `to`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Ramp {
    pub(crate) from: f64,
    pub(crate) to: f64,
    pub(crate) over_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Step {
    pub(crate) rate: f64,
    pub(crate) hold_s: f64,
}

/// `base`, with `peak` from `at_s` for `duration_s` seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Spike {
    pub(crate) base: f64,
    pub(crate) peak: f64,
    pub(crate) at_s: f64,
    pub(crate) duration_s: f64,
}

/// A daily curve: 24 relative weights (normalised to shares of `conversations_per_day`), hour 0 first. Without
/// `replay_hour` the whole day is replayed from midnight, `traffic.time_scale` times faster (an hour lasts
/// 3,600 / time_scale wall seconds). With it, that one hour is replayed at its real rate (times `time_scale` if
/// given): `peak` picks the hour of the largest weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Diurnal {
    pub(crate) hourly_weights: Vec<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) replay_hour: Option<ReplayHour>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub(crate) enum ReplayHour {
    Hour(u32),
    /// Only `peak`.
    #[schemars(schema_with = "crate::config::schema::peak_word")]
    Named(String),
}

impl Diurnal {
    /// Share of the daily volume in each hour (weights normalised).
    pub(crate) fn shares(&self) -> Vec<f64> {
        let sum: f64 = self.hourly_weights.iter().sum();
        self.hourly_weights.iter().map(|w| w / sum).collect()
    }

    /// The hour replayed, if one is (`peak` = the first hour of the largest weight).
    pub(crate) fn hour(&self) -> Option<usize> {
        match self.replay_hour.as_ref()? {
            ReplayHour::Hour(h) => Some(*h as usize),
            ReplayHour::Named(_) => {
                let mut best = 0;
                for (i, w) in self.hourly_weights.iter().enumerate() {
                    if *w > self.hourly_weights[best] {
                        best = i;
                    }
                }
                Some(best)
            }
        }
    }
}

/// A validation failure: the field path under `traffic.shape` and the message.
pub(crate) type ShapeError = (String, String);

fn rate(field: String, v: f64) -> Result<(), ShapeError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err((field, format!("{v} must be a rate >= 0 (conversations/s)")))
    }
}

fn seconds(field: String, v: f64, zero_ok: bool) -> Result<(), ShapeError> {
    if v.is_finite() && (v > 0.0 || (zero_ok && v == 0.0)) {
        Ok(())
    } else {
        Err((field, format!("{v} must be a positive number of seconds")))
    }
}

/// `traffic.warmup_s`: >= 0 and shorter than the arrival window (else nothing would be measured).
pub(crate) fn check_warmup(warmup_s: f64, duration_s: f64) -> Result<(), ShapeError> {
    if warmup_s.is_finite() && warmup_s >= 0.0 && warmup_s < duration_s {
        Ok(())
    } else {
        Err((
            "traffic.warmup_s".into(),
            format!("{warmup_s} must be >= 0 and shorter than duration_s ({duration_s})"),
        ))
    }
}

impl Shape {
    /// Check the shape; errors name the field under `traffic.shape`.
    pub(crate) fn check(&self) -> Result<(), ShapeError> {
        const P: &str = "traffic.shape";
        let given = [
            self.constant.is_some(),
            self.ramp.is_some(),
            self.steps.is_some(),
            self.diurnal.is_some(),
            self.spike.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err((
                P.into(),
                "give exactly one of constant, ramp, steps, diurnal, spike".into(),
            ));
        }
        if let Some(c) = &self.constant {
            rate(format!("{P}.constant.rate"), c.rate)?;
        }
        if let Some(r) = &self.ramp {
            rate(format!("{P}.ramp.from"), r.from)?;
            rate(format!("{P}.ramp.to"), r.to)?;
            seconds(format!("{P}.ramp.over_s"), r.over_s, false)?;
        }
        if let Some(steps) = &self.steps {
            if steps.is_empty() {
                return Err((format!("{P}.steps"), "at least one step".into()));
            }
            for (i, s) in steps.iter().enumerate() {
                rate(format!("{P}.steps[{i}].rate"), s.rate)?;
                seconds(format!("{P}.steps[{i}].hold_s"), s.hold_s, false)?;
            }
        }
        if let Some(s) = &self.spike {
            rate(format!("{P}.spike.base"), s.base)?;
            rate(format!("{P}.spike.peak"), s.peak)?;
            seconds(format!("{P}.spike.at_s"), s.at_s, true)?;
            seconds(format!("{P}.spike.duration_s"), s.duration_s, false)?;
        }
        if let Some(d) = &self.diurnal {
            let f = format!("{P}.diurnal.hourly_weights");
            if d.hourly_weights.len() != 24 {
                return Err((
                    f,
                    format!("{} weights; give 24, hour 0 first", d.hourly_weights.len()),
                ));
            }
            for (i, w) in d.hourly_weights.iter().enumerate() {
                if !(w.is_finite() && *w >= 0.0) {
                    return Err((format!("{f}[{i}]"), format!("{w} must be >= 0")));
                }
            }
            if d.hourly_weights.iter().sum::<f64>() <= 0.0 {
                return Err((f, "at least one weight must be > 0".into()));
            }
            let bad = match &d.replay_hour {
                Some(ReplayHour::Hour(h)) => *h > 23,
                Some(ReplayHour::Named(n)) => n != "peak",
                None => false,
            };
            if bad {
                return Err((
                    format!("{P}.diurnal.replay_hour"),
                    "must be `peak` or an hour 0-23".into(),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_shape_and_sane_values() {
        let ramp = Ramp {
            from: 1.0,
            to: 2.0,
            over_s: 10.0,
        };
        let two = Shape {
            ramp: Some(ramp.clone()),
            constant: Some(Constant { rate: 1.0 }),
            ..Default::default()
        };
        assert_eq!(two.check().unwrap_err().0, "traffic.shape");
        assert_eq!(Shape::default().check().unwrap_err().0, "traffic.shape");
        let bad = Shape {
            steps: Some(vec![Step {
                rate: 1.0,
                hold_s: 0.0,
            }]),
            ..Default::default()
        };
        assert_eq!(bad.check().unwrap_err().0, "traffic.shape.steps[0].hold_s");
        let d = |w: Vec<f64>, h: Option<ReplayHour>| Shape {
            diurnal: Some(Diurnal {
                hourly_weights: w,
                replay_hour: h,
            }),
            ..Default::default()
        };
        let f = |s: Shape| s.check().unwrap_err().0;
        assert_eq!(
            f(d(vec![1.0; 23], None)),
            "traffic.shape.diurnal.hourly_weights"
        );
        assert_eq!(
            f(d(vec![1.0; 24], Some(ReplayHour::Hour(24)))),
            "traffic.shape.diurnal.replay_hour"
        );
        assert_eq!(
            f(d(vec![1.0; 24], Some(ReplayHour::Named("busiest".into())))),
            "traffic.shape.diurnal.replay_hour"
        );
        let mut w = vec![1.0; 24];
        w[14] = 3.0;
        let peak = d(w, Some(ReplayHour::Named("peak".into())));
        assert!(peak.check().is_ok());
        assert_eq!(peak.diurnal.unwrap().hour(), Some(14));
    }
}
