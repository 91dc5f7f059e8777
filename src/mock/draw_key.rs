//! What a generation request's random draws are keyed by (`draws:` in a profile).
//!
//! * `arrival` (default): the request's arrival number at this mock: reproducible when arrivals are serialised, but
//!   two processes (shards) or two runs with another arrival order give different requests the errors.
//! * `request`: the request's identity: a hash of the caller's user id and the request's messages (which encode the
//!   conversation's turn), plus how many times in a row this identity failed (drew anything but an answer) since it
//!   last succeeded, so a retry after a failure draws anew. The same scenario then gives the same per-request
//!   outcomes whatever the arrival order or the shard a conversation lands on. Two requests with the same identity
//!   (two conversations of one user opening with the same words) draw the same after a success, so they agree in
//!   any order and in any shard; only when one arrives while the other is between a failure and its retry does their
//!   order matter. The table is cleared at 1M identities (memory stays bounded on a soak).
//!
//! (Counting every arrival of an identity instead would make the second of two such conversations draw differently
//! from the first, and in a sharded run, where they land in different processes, both would draw as the first: the
//! bundled scenario, 20,000 users for ~3,500 conversations, has a few such pairs per target.)

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DrawKey {
    #[default]
    Arrival,
    Request,
}

const MAX_IDENTITIES: usize = 1 << 20;

/// Consecutive failures per request identity.
#[derive(Default)]
pub(crate) struct Occurrences(Mutex<HashMap<u64, u32>>);

impl Occurrences {
    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<u64, u32>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The stream number of the next request with identity `id`: one per count of failures since its last success.
    pub(crate) fn stream(&self, id: u64) -> u64 {
        let k = self.table().get(&id).copied().unwrap_or(0);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (id, k).hash(&mut h);
        h.finish()
    }

    /// What a request with identity `id` drew: a failure makes the identity's next request draw anew, a success
    /// makes it draw from the start again.
    pub(crate) fn settle(&self, id: u64, failed: bool) {
        let mut m = self.table();
        if !failed {
            m.remove(&id);
            return;
        }
        if m.len() >= MAX_IDENTITIES {
            m.clear();
        }
        let n = m.entry(id).or_insert(0);
        *n = n.saturating_add(1);
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
    fn a_failure_draws_anew_a_success_draws_from_the_start() {
        let (a, b) = (identity(["u1", "hello"]), identity(["u2", "hello"]));
        assert_ne!(a, b);
        let o = Occurrences::default();
        let first = o.stream(a);
        assert_eq!(o.stream(a), first, "nothing settled yet: the same stream");
        o.settle(a, true);
        let retry = o.stream(a);
        assert_ne!(retry, first, "a retry after a failure draws anew");
        o.settle(a, true);
        let again = o.stream(a);
        assert!(
            again != retry && again != first,
            "and again after a second failure"
        );
        // Another identity is its own sequence.
        assert_ne!(o.stream(b), first);
        o.settle(b, true);
        assert_eq!(o.stream(a), again);
        o.settle(a, false);
        assert_eq!(o.stream(a), first, "after a success, from the start");
    }

    /// Two conversations with one identity (A fails once then succeeds; B succeeds): one server seeing A then B and
    /// two servers (two shards) seeing one each give every request the same stream.
    #[test]
    fn identical_requests_agree_across_processes() {
        let id = identity(["u1", "gpt-4.1", "where is my order"]);
        let one = Occurrences::default();
        let a1 = one.stream(id);
        one.settle(id, true);
        let a2 = one.stream(id);
        one.settle(id, false);
        let b1 = one.stream(id);
        let (p, q) = (Occurrences::default(), Occurrences::default());
        assert_eq!(p.stream(id), a1);
        p.settle(id, true);
        assert_eq!(p.stream(id), a2);
        assert_eq!(q.stream(id), b1);
        assert_eq!(a1, b1);
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
