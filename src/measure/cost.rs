//! Cost of a run: per target and model, per 1,000 conversations, and the one monthly projection every output uses.

use crate::config::prices::nano_to_usd;

/// Projected monthly cost (30 days) from the measured cost per conversation and the daily volume.
pub(crate) fn monthly_projection_usd(
    run_cost_nano: u64,
    conversations_in_run: u64,
    conversations_per_day: f64,
) -> f64 {
    if conversations_in_run == 0 {
        return 0.0;
    }
    nano_to_usd(run_cost_nano) / conversations_in_run as f64 * conversations_per_day * 30.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection() {
        // 2 USD over 100 conversations at 50,000/day -> 0.02 * 50,000 * 30 = 30,000
        assert!((monthly_projection_usd(2_000_000_000, 100, 50_000.0) - 30_000.0).abs() < 1e-6);
        assert_eq!(monthly_projection_usd(5, 0, 50_000.0), 0.0);
    }
}
