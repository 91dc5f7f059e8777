//! What a generation request's random draws are keyed by (`draws:` in a profile).
//!
//! * `arrival` (default): the request's arrival number at this mock: reproducible when arrivals are serialised, but
//!   two processes (shards) or two runs with another arrival order give different requests the errors.
//! * `request`: the request's identity: a hash of the caller's user id and the request's messages (which encode the
//!   conversation's turn), plus how many times this identity arrived before (so a retry draws anew). The same scenario
//!   then gives the same per-request outcomes whatever the arrival order or the shard a conversation lands on. Two
//!   requests with the same identity (same user, same turn, same words) share the occurrence count, so only their
//!   relative order matters. The count table is cleared at 1M identities (memory stays bounded on a soak).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DrawKey {
    #[default]
    Arrival,
    Request,
}

const MAX_IDENTITIES: usize = 1 << 20;

/// Occurrences per request identity.
#[derive(Default)]
pub(crate) struct Occurrences(Mutex<HashMap<u64, u32>>);

impl Occurrences {
    /// The stream number of the next request with identity `id`.
    pub(crate) fn stream(&self, id: u64) -> u64 {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= MAX_IDENTITIES {
            m.clear();
        }
        let n = m.entry(id).or_insert(0);
        let k = *n;
        *n = n.saturating_add(1);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (id, k).hash(&mut h);
        h.finish()
    }
}

/// A request identity from its parts (user id, message texts, ...), stable across processes of the same build.
pub(crate) fn identity<'a>(parts: impl IntoIterator<Item = &'a str>) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for p in parts {
        p.hash(&mut h);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_identity_same_streams_in_any_interleaving() {
        let (a, b) = (identity(["u1", "hello"]), identity(["u2", "hello"]));
        assert_ne!(a, b);
        let one = Occurrences::default();
        let s1 = [one.stream(a), one.stream(b), one.stream(a)];
        let two = Occurrences::default();
        let s2 = [two.stream(b), two.stream(a), two.stream(a)];
        // a's first and second arrival, b's first: the same streams whatever the order.
        assert_eq!((s1[0], s1[2], s1[1]), (s2[1], s2[2], s2[0]));
        assert_ne!(s1[0], s1[2], "a retry draws anew");
    }

    /// Two servers (two shards, two runs) see the same requests in opposite orders: with `draws: request` every
    /// request gets the same status on both.
    #[tokio::test]
    async fn outcomes_follow_the_request_not_the_arrival_order() {
        let y =
            "name: d\nseed: 3\nprotocol: openai\nmodels: [m]\nlatency: {mean_ms: 2, p99_ms: 4}\n\
                 errors: {rate: 0.4, status: [500, 502, 503]}\ndraws: request\n";
        let serve = || async {
            let p = crate::mock::MockProfile::from_yaml_str(y, "d.yaml").unwrap();
            crate::mock::serve(p, "127.0.0.1:0".parse().unwrap())
                .await
                .unwrap()
        };
        let (a, b) = (serve().await, serve().await);
        let c = reqwest::Client::builder().no_proxy().build().unwrap();
        let send = |base: String, user: usize| {
            let c = c.clone();
            async move {
                let body = serde_json::json!({"model": "m", "user": format!("user-{user}"),
                    "messages": [{"role": "user", "content": "where is my order"}]});
                let r = c
                    .post(format!("{base}/v1/chat/completions"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                r.status().as_u16()
            }
        };
        let mut on_a = Vec::new();
        for u in 0..40 {
            on_a.push(send(a.base_url(), u).await);
        }
        let mut on_b = vec![0; 40];
        for u in (0..40).rev() {
            on_b[u] = send(b.base_url(), u).await;
        }
        assert_eq!(on_a, on_b);
        let errors = on_a.iter().filter(|s| **s != 200).count();
        assert!(
            (5..=30).contains(&errors),
            "the draws still vary by request: {errors} errors of 40"
        );
    }
}
