//! Arrival instants from a rate profile, by inverting its cumulative rate.
//!
//! The profile is a list of segments on which the rate moves linearly (constant when both ends agree). Its
//! cumulative Λ(t) = ∫₀ᵗ rate maps wall time onto "expected arrivals so far"; arrivals are drawn in that space and
//! mapped back with Λ⁻¹:
//! - uniform: the k-th arrival (k = 0, 1, ...) at Λ⁻¹(k), so a constant rate gives k / rate, and the count in a
//!   window is ceil(Λ(window));
//! - Poisson: at Λ⁻¹(E₁ + ... + E_k) with Eᵢ independent unit exponentials: a non-homogeneous Poisson process of the
//!   profile's rate (the time-change theorem), with no thinning and no rejected draws, so the random stream is the
//!   same for every shape and every target.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::config::scenario::Arrival;

/// The rate goes linearly from `r0` at `start` to `r1` at `end` (seconds of wall time, conversations per second).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Segment {
    pub(crate) start: f64,
    pub(crate) end: f64,
    pub(crate) r0: f64,
    pub(crate) r1: f64,
}

impl Segment {
    /// Expected arrivals in the segment.
    pub(crate) fn mass(&self) -> f64 {
        (self.r0 + self.r1) / 2.0 * (self.end - self.start)
    }

    /// Expected arrivals from `start` to `start + x` (the tests' check of [`invert`](Self::invert)).
    #[cfg(test)]
    fn mass_to(&self, x: f64) -> f64 {
        let len = self.end - self.start;
        self.r0 * x + (self.r1 - self.r0) / (2.0 * len) * x * x
    }

    /// The x in [0, len] with `mass_to(x) = m`.
    fn invert(&self, m: f64) -> f64 {
        let len = self.end - self.start;
        let a = (self.r1 - self.r0) / (2.0 * len);
        let x = if a.abs() * len < 1e-12 * self.r0.max(1e-300) {
            m / self.r0
        } else {
            // a x² + r0 x - m = 0, in the form that does not cancel when a is small
            2.0 * m / (self.r0 + (self.r0 * self.r0 + 4.0 * a * m).max(0.0).sqrt())
        };
        x.clamp(0.0, len)
    }
}

/// Contiguous segments from 0 to the window's end, with their cumulative masses.
#[derive(Debug, Clone)]
pub(crate) struct RateProfile {
    segments: Vec<Segment>,
    /// Λ at the start of each segment.
    before: Vec<f64>,
    total: f64,
}

impl RateProfile {
    pub(crate) fn new(segments: Vec<Segment>) -> RateProfile {
        let mut before = Vec::with_capacity(segments.len());
        let mut total = 0.0;
        for s in &segments {
            before.push(total);
            total += s.mass();
        }
        RateProfile {
            segments,
            before,
            total,
        }
    }

    pub(crate) fn constant(rate: f64, window: f64) -> RateProfile {
        RateProfile::new(vec![Segment {
            start: 0.0,
            end: window,
            r0: rate,
            r1: rate,
        }])
    }

    #[cfg(test)]
    pub(crate) fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The highest rate anywhere in the window.
    pub(crate) fn peak_rate(&self) -> f64 {
        self.segments
            .iter()
            .map(|s| s.r0.max(s.r1))
            .fold(0.0, f64::max)
    }

    /// Λ⁻¹(u) for u < total; `cursor` remembers the segment so monotone queries cost O(1) each.
    fn invert(&self, u: f64, cursor: &mut usize) -> f64 {
        while *cursor + 1 < self.segments.len() && self.before[*cursor + 1] <= u {
            *cursor += 1;
        }
        // skip empty segments (rate 0) that share their start mass with the next one
        while *cursor + 1 < self.segments.len() && self.segments[*cursor].mass() <= 0.0 {
            *cursor += 1;
        }
        let s = &self.segments[*cursor];
        s.start + s.invert(u - self.before[*cursor])
    }
}

/// The arrival instants of a profile, lazily; draws from the caller's random stream (Poisson only).
#[derive(Debug, Clone)]
pub(crate) struct Arrivals {
    profile: RateProfile,
    kind: Arrival,
    index: u64,
    /// Poisson: the running sum of unit exponentials.
    acc: f64,
    cursor: usize,
    /// Arrivals whose Λ reaches this are past the window (a relative tolerance, so that an arrival meant to fall
    /// exactly on the window's end when rate x duration is whole is not let in by rounding).
    limit: f64,
}

impl Arrivals {
    pub(crate) fn new(profile: RateProfile, kind: Arrival) -> Arrivals {
        let limit = profile.total - profile.total * 1e-12;
        Arrivals {
            profile,
            kind,
            index: 0,
            acc: 0.0,
            cursor: 0,
            limit,
        }
    }

    /// Seconds from the run start of the next arrival, None once the window is over.
    pub(crate) fn next_offset(&mut self, rng: &mut ChaCha8Rng) -> Option<f64> {
        let u = match self.kind {
            Arrival::Uniform => self.index as f64,
            Arrival::Poisson => {
                let e: f64 = rng.gen_range(f64::EPSILON..1.0);
                self.acc += -e.ln();
                self.acc
            }
        };
        if u >= self.limit {
            return None;
        }
        self.index += 1;
        Some(self.profile.invert(u, &mut self.cursor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_segment_inverts_its_own_mass() {
        for (r0, r1) in [(2.0, 2.0), (1.0, 9.0), (9.0, 1.0), (0.0, 5.0), (5.0, 0.0)] {
            let s = Segment {
                start: 10.0,
                end: 20.0,
                r0,
                r1,
            };
            for k in 1..10 {
                let x = k as f64;
                let back = s.invert(s.mass_to(x));
                assert!((back - x).abs() < 1e-9, "{r0}->{r1} at {x}: {back}");
            }
        }
    }

    #[test]
    fn zero_rate_segments_get_no_arrivals() {
        let p = RateProfile::new(vec![
            Segment {
                start: 0.0,
                end: 10.0,
                r0: 1.0,
                r1: 1.0,
            },
            Segment {
                start: 10.0,
                end: 20.0,
                r0: 0.0,
                r1: 0.0,
            },
            Segment {
                start: 20.0,
                end: 30.0,
                r0: 1.0,
                r1: 1.0,
            },
        ]);
        let mut a = Arrivals::new(p, Arrival::Uniform);
        let mut rng = rand::SeedableRng::seed_from_u64(1);
        let at: Vec<f64> = std::iter::from_fn(|| a.next_offset(&mut rng)).collect();
        assert_eq!(at.len(), 20);
        assert!(at.iter().all(|t| !(10.0..20.0).contains(t)), "{at:?}");
    }
}
