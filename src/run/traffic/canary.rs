//! Canary routing: which phase an arrival falls in and whether its user goes to the gateway, by a stable hash.

use std::time::Duration;

use crate::config::scenario::Canary;

/// Stable position of a user in [0, 1): FNV-1a of the salt and user id. A user below a phase's share goes to the
/// gateway; since shares only grow, a user once moved stays moved.
pub(crate) fn user_bucket(salt: &str, user: u64) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in salt
        .as_bytes()
        .iter()
        .chain(b":")
        .chain(user.to_string().as_bytes())
    {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // finaliser (splitmix64) so consecutive ids spread evenly
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Which canary phase an arrival offset falls in, and whether its user goes to the gateway.
pub(crate) fn canary_route(c: &Canary, offset: Duration, user: u64) -> Option<(usize, bool)> {
    let t = offset.as_secs_f64();
    let mut start = 0.0;
    for (i, p) in c.phases.iter().enumerate() {
        if t < start + p.duration_s {
            return Some((i, user_bucket(&c.salt, user) < p.share));
        }
        start += p.duration_s;
    }
    None
}
