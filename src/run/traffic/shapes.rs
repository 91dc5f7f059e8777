//! From `traffic.shape` to the rate profile of the arrival window (see `config::shape` for the units).

use super::arrivals::{RateProfile, Segment};
use crate::config::scenario::Traffic;
use crate::config::shape::Shape;

/// The profile of a scenario's traffic over `window` seconds; `base_rate` is the constant rate used without a shape
/// (conversations_per_day / 86,400 x time_scale).
pub(crate) fn profile(traffic: &Traffic, base_rate: f64, window: f64) -> RateProfile {
    let Some(shape) = &traffic.shape else {
        return RateProfile::constant(base_rate, window);
    };
    RateProfile::new(clip(pieces(shape, traffic), window))
}

/// (length, rate at start, rate at end) pieces from time 0; the last rate holds after them.
fn pieces(shape: &Shape, traffic: &Traffic) -> Vec<(f64, f64, f64)> {
    let ts = traffic.time_scale.unwrap_or(1.0);
    if let Some(c) = &shape.constant {
        return vec![(f64::INFINITY, c.rate, c.rate)];
    }
    if let Some(r) = &shape.ramp {
        return vec![(r.over_s, r.from, r.to)];
    }
    if let Some(steps) = &shape.steps {
        return steps.iter().map(|s| (s.hold_s, s.rate, s.rate)).collect();
    }
    if let Some(s) = &shape.spike {
        return vec![
            (s.at_s, s.base, s.base),
            (s.duration_s, s.peak, s.peak),
            (f64::INFINITY, s.base, s.base),
        ];
    }
    if let Some(d) = &shape.diurnal {
        let shares = d.shares();
        let hourly = |h: usize| traffic.conversations_per_day * shares[h % 24] / 3600.0 * ts;
        if let Some(h) = d.hour() {
            return vec![(f64::INFINITY, hourly(h), hourly(h))];
        }
        // the whole day (and the next ones, if the window is longer), an hour per 3,600 / time_scale seconds
        let hour = 3600.0 / ts;
        let hours = (traffic.duration_s / hour).ceil().clamp(1.0, 1e6) as usize;
        return (0..hours).map(|h| (hour, hourly(h), hourly(h))).collect();
    }
    vec![(f64::INFINITY, 0.0, 0.0)]
}

/// Lay pieces end to end from 0, cut at the window's end (interpolating a ramp cut midway), and hold the last rate
/// until the window's end. Pieces of zero length are skipped.
fn clip(pieces: Vec<(f64, f64, f64)>, window: f64) -> Vec<Segment> {
    let mut out = Vec::with_capacity(pieces.len() + 1);
    let mut start = 0.0;
    let mut last = 0.0;
    for (len, r0, r1) in pieces {
        last = r1;
        if start >= window {
            break;
        }
        if len <= 0.0 {
            continue;
        }
        let (end, r1) = if start + len > window {
            (window, r0 + (r1 - r0) * (window - start) / len)
        } else {
            (start + len, r1)
        };
        out.push(Segment { start, end, r0, r1 });
        start = end;
    }
    if start < window {
        out.push(Segment {
            start,
            end: window,
            r0: last,
            r1: last,
        });
    }
    out
}

#[cfg(test)]
mod tests;
