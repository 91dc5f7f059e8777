//! Gaps between the content chunks of one stream, in bounded memory however long the stream: count and maximum
//! always; the gaps themselves (microseconds, at least 1) first in a short list, and past it in an HDR histogram
//! with the pooled histogram's precision (3 significant digits), so pooling them later loses nothing.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Gaps kept as a list before the histogram takes over (4 KiB of `Duration`s).
pub(crate) const LISTED_GAPS: usize = 256;

#[derive(Debug, Clone, Default)]
pub struct GapStats {
    count: u64,
    max: Duration,
    listed: Vec<Duration>,
    /// Gaps after the first [`LISTED_GAPS`], in microseconds; auto-resizing, so it grows only up to the largest gap
    /// seen (about 45 KiB for gaps up to a second).
    more: Option<Box<Histogram<u64>>>,
}

impl GapStats {
    pub(crate) fn record(&mut self, gap: Duration) {
        self.count += 1;
        self.max = self.max.max(gap);
        if self.listed.len() < LISTED_GAPS {
            self.listed.push(gap);
            return;
        }
        let h = self.more.get_or_insert_with(|| {
            Box::new(Histogram::new(3).expect("3 significant digits is valid"))
        });
        // Auto-resizing: only a value beyond u64 range could fail, and a Duration in microseconds never is.
        let _ = h.record(micros(gap));
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The largest gap, `None` without gaps.
    pub(crate) fn max(&self) -> Option<Duration> {
        (self.count > 0).then_some(self.max)
    }

    /// The first [`LISTED_GAPS`] gaps, in order.
    #[cfg(test)]
    pub(crate) fn listed(&self) -> &[Duration] {
        &self.listed
    }

    /// Add every gap to `pooled` (microseconds, saturating at its highest trackable value).
    pub(crate) fn record_into(&self, pooled: &mut Histogram<u64>) {
        for g in &self.listed {
            pooled.saturating_record(micros(*g));
        }
        if let Some(h) = &self.more {
            for v in h.iter_recorded() {
                let value = h.highest_equivalent(v.value_iterated_to());
                let _ = pooled.record_n(value.min(pooled.high()), v.count_at_value());
            }
        }
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.listed.capacity() * std::mem::size_of::<Duration>()
            + self.more.as_ref().map_or(0, |h| {
                std::mem::size_of::<Histogram<u64>>() + h.distinct_values() * 8
            })
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_gives_the_same_histogram_as_recording_each_gap() {
        let mut g = GapStats::default();
        let mut direct = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        // 10,000 gaps, more than the list holds: 0 µs (recorded as 1), then a spread up to ~2 s.
        for i in 0..10_000u64 {
            let d = Duration::from_micros(i * i / 50);
            g.record(d);
            direct.saturating_record(micros(d));
        }
        assert_eq!(g.count(), 10_000);
        assert_eq!(g.max(), Some(Duration::from_micros(9_999 * 9_999 / 50)));
        assert_eq!(g.listed().len(), LISTED_GAPS);
        let mut pooled = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        g.record_into(&mut pooled);
        assert_eq!(pooled.len(), direct.len());
        for q in [0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(
                pooled.value_at_quantile(q),
                direct.value_at_quantile(q),
                "q {q}"
            );
        }
        assert_eq!(pooled.max(), direct.max());
        // Bounded: the list and the histogram, not 16 bytes per gap.
        assert!(g.heap_bytes() < 200_000, "{}", g.heap_bytes());
        assert_eq!(GapStats::default().max(), None);
    }
}
