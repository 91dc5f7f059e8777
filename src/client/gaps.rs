//! Gaps between the content chunks of one stream, in bounded memory however long the stream: count and maximum
//! always; the gaps themselves (microseconds, at least 1) first in a short list, and past it as counts per cell of
//! the pooled histogram (3 significant digits), so pooling them later loses nothing.

use std::sync::OnceLock;
use std::time::Duration;

use hdrhistogram::Histogram;

/// Gaps kept as a list before the per-cell counts take over (1 KiB of microseconds).
pub(crate) const LISTED_GAPS: usize = 256;

#[derive(Debug, Clone, Default)]
pub struct GapStats {
    count: u64,
    max: Duration,
    /// The first [`LISTED_GAPS`] gaps in microseconds (saturating at `u32::MAX`, beyond the pooled histogram's
    /// highest value, 3,600,000,000), in order.
    listed: Vec<u32>,
    /// The gaps after them: (lowest value of the pooled histogram's cell, gaps in it), sorted by value. One entry per
    /// distinct cell, where the dense per-stream histogram this replaces held a counter for every cell up to the
    /// largest gap (57 KiB for gaps of 50 ms: memory per concurrent stream, issue 12); a steady stream's gaps fill
    /// a few dozen cells.
    more: Vec<(u32, u32)>,
}

impl GapStats {
    pub(crate) fn record(&mut self, gap: Duration) {
        self.count += 1;
        self.max = self.max.max(gap);
        let us = micros(gap);
        if self.listed.len() < LISTED_GAPS {
            self.listed.push(us);
            return;
        }
        // The cell's lowest value is at most `us`, so it fits a u32 too.
        let cell = cells().lowest_equivalent(u64::from(us)) as u32;
        match self.more.binary_search_by_key(&cell, |&(v, _)| v) {
            Ok(i) => self.more[i].1 = self.more[i].1.saturating_add(1),
            Err(i) => self.more.insert(i, (cell, 1)),
        }
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The largest gap, `None` without gaps.
    pub(crate) fn max(&self) -> Option<Duration> {
        (self.count > 0).then_some(self.max)
    }

    /// The first [`LISTED_GAPS`] gaps, in order, to the microsecond.
    #[cfg(test)]
    pub(crate) fn listed(&self) -> Vec<Duration> {
        self.listed
            .iter()
            .map(|&us| Duration::from_micros(u64::from(us)))
            .collect()
    }

    /// Add every gap to `pooled` (microseconds, saturating at its highest trackable value). A cell's lowest value
    /// lands in the same cell as every gap it counts: `pooled` has the cells' precision (3 significant digits from
    /// 1 us); a cell holding the highest trackable value saturates there as its gaps would.
    pub(crate) fn record_into(&self, pooled: &mut Histogram<u64>) {
        for &us in &self.listed {
            pooled.saturating_record(u64::from(us));
        }
        for &(cell, n) in &self.more {
            pooled.saturating_record_n(u64::from(cell).min(pooled.high()), u64::from(n));
        }
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.listed.capacity() * std::mem::size_of::<u32>()
            + self.more.capacity() * std::mem::size_of::<(u32, u32)>()
    }
}

/// Microseconds, at least 1, saturating at `u32::MAX` (71 minutes: beyond the pooled histogram's range, where the
/// gap saturates anyway).
fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX).max(1)
}

/// The pooled histogram's cells (3 significant digits from 1 us), for their bounds only: no value is recorded.
fn cells() -> &'static Histogram<u64> {
    static CELLS: OnceLock<Histogram<u64>> = OnceLock::new();
    CELLS.get_or_init(|| Histogram::new(3).expect("3 significant digits is valid"))
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
            direct.saturating_record(d.as_micros().max(1) as u64);
        }
        // Past the list, a gap beyond the pooled range (2 hours) saturates at its highest value, as it would there.
        let two_hours = Duration::from_secs(7200);
        g.record(two_hours);
        direct.saturating_record(7_200_000_000);
        assert_eq!(g.count(), 10_001);
        assert_eq!(g.max(), Some(two_hours));
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
        assert_eq!(pooled.min(), direct.min());
        assert_eq!(pooled.mean(), direct.mean());
        // Cell by cell, the same counts.
        let cells = |h: &Histogram<u64>| -> Vec<(u64, u64)> {
            h.iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect()
        };
        assert_eq!(cells(&pooled), cells(&direct));
        assert_eq!(GapStats::default().max(), None);
    }

    #[test]
    fn a_steady_stream_holds_one_counter_per_cell_its_gaps_reach() {
        // 10,000 gaps of 48-52 ms (48,000 + i * 37 mod 4,001 us: 4,001 is prime, so the 9,744 gaps past the list
        // reach every value of the range). From 32,768 to 65,535 us a cell is 32 us wide, and 48,000 = 1,500 x 32
        // starts one: cells 1,500 to 1,625 x 32, 126 of them. Heap: the list's 256 u32s (1 KiB) and 126 cells
        // in a Vec grown 4, 8, ... 128 (8 bytes each, 1 KiB), where a dense histogram up to 52 ms held 7 x 1,024
        // u64 counters (56 KiB).
        let mut g = GapStats::default();
        for i in 0..10_000u64 {
            g.record(Duration::from_micros(48_000 + i * 37 % 4_001));
        }
        assert_eq!(g.count(), 10_000);
        assert_eq!(g.more.len(), 126);
        assert_eq!(g.more.first().map(|c| c.0), Some(48_000));
        assert_eq!(g.more.last().map(|c| c.0), Some(52_000));
        assert_eq!(
            g.more.iter().map(|c| u64::from(c.1)).sum::<u64>(),
            10_000 - 256
        );
        assert_eq!(g.heap_bytes(), 1024 + 1024);
    }
}
