//! What each conversation cost on one target, for the monthly projection and the saving's paired interval: the one
//! piece of the report's state that grows with the run (by conversation, never by row), so it is kept compact.
//!
//! A conversation is 24 bytes in a vector sorted by id (a `BTreeMap<u64, _>` with a per-conversation list of model
//! costs was ~110 bytes and an allocation each: 400 MB of a 10,000,000-row report). Its cost per model is implied when
//! only one model cost anything (the conversation's cost is then that model's); conversations that spent on several
//! models keep their split in a side vector, 24 bytes a model. Rows come roughly in conversation order (a run's
//! arrivals are), so a row's conversation is found among the latest ones or appended; anything else is a binary search
//! over them all, and an insertion in the middle is correct, only slower.

use std::collections::BTreeMap;

/// How many of the latest conversations a row's is looked for among first.
const RECENT: usize = 1024;

/// No model has cost anything in the conversation yet.
const NO_MODEL: u32 = u32::MAX;

/// One conversation on one target.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConvCost {
    pub(crate) id: u64,
    pub(crate) cost_nano: u64,
    /// Index (into [`ConvCosts::models`]) of the model that cost something, [`NO_MODEL`] before any did; with
    /// `multi` the split is in [`ConvCosts::split`].
    model: u32,
    multi: bool,
    /// A request of the conversation was never sent or was cancelled: it is not measured whole.
    pub(crate) incomplete: bool,
}

/// Every conversation of one target, in id order.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConvCosts {
    convs: Vec<ConvCost>,
    /// Model names the conversations' costs point to, each once.
    models: Vec<String>,
    /// The cost per model of the conversations that spent on more than one, sorted by (conversation, model).
    split: Vec<Split>,
    /// The sums over the conversations measured whole, computed on first use after the last change: the report
    /// reads them for every cost line, chart and export, and each was a pass over every conversation.
    measured: std::sync::OnceLock<Measured>,
}

/// One model's cost in a conversation that spent on several (24 bytes; a scenario that picks a model per turn has
/// more than half its conversations so).
#[derive(Debug, Clone, Copy)]
struct Split {
    id: u64,
    model: u32,
    cost: u64,
}

impl Split {
    fn key(&self) -> (u64, u32) {
        (self.id, self.model)
    }
}

/// Sums over one target's conversations.
#[derive(Debug, Clone, Default)]
pub(crate) struct Measured {
    /// Conversations measured whole, and the others.
    pub(crate) conversations: u64,
    pub(crate) incomplete: u64,
    /// Their cost in nano-dollars (saturating), in all and per model.
    pub(crate) cost_nano: u64,
    pub(crate) by_model: BTreeMap<String, u64>,
}

impl ConvCosts {
    /// Count one request of conversation `id`: `cost` nano-dollars spent on `model`; `incomplete` when it was not
    /// sent or was cancelled.
    pub(crate) fn add(&mut self, id: u64, model: &str, cost: u64, incomplete: bool) {
        self.changed();
        let i = self.slot(id);
        let c = &mut self.convs[i];
        c.cost_nano = c.cost_nano.saturating_add(cost);
        c.incomplete |= incomplete;
        if cost == 0 {
            return;
        }
        let m = match self.models.iter().position(|n| n == model) {
            Some(m) => m as u32,
            None => {
                self.models.push(model.to_string());
                (self.models.len() - 1) as u32
            }
        };
        let c = &mut self.convs[i];
        if c.model == NO_MODEL {
            c.model = m;
        } else if c.multi {
            self.add_split(id, m, cost);
        } else if c.model != m {
            // The first model's share is the cost before this row (only it had cost anything).
            c.multi = true;
            let (first, before) = (c.model, c.cost_nano.saturating_sub(cost));
            self.add_split(id, first, before);
            self.add_split(id, m, cost);
        }
    }

    /// Add `cost` to model `m`'s share of conversation `id` (a conversation of several models).
    fn add_split(&mut self, id: u64, m: u32, cost: u64) {
        let key = (id, m);
        let n = self.split.len();
        let at = match self.split.last() {
            Some(last) if last.key() >= key => {
                let tail = n.saturating_sub(RECENT);
                let from = if self.split[tail].key() <= key {
                    tail
                } else {
                    0
                };
                match self.split[from..].binary_search_by_key(&key, Split::key) {
                    Ok(i) => {
                        let s = &mut self.split[from + i];
                        s.cost = s.cost.saturating_add(cost);
                        return;
                    }
                    Err(i) => from + i,
                }
            }
            _ => n,
        };
        self.split.insert(at, Split { id, model: m, cost });
    }

    fn changed(&mut self) {
        if self.measured.get().is_some() {
            self.measured = std::sync::OnceLock::new();
        }
    }

    /// Sums over the conversations measured whole (and a count of the others), in one pass, kept until a change.
    pub(crate) fn measured(&self) -> &Measured {
        self.measured.get_or_init(|| {
            let mut m = Measured::default();
            for c in &self.convs {
                if c.incomplete {
                    m.incomplete += 1;
                    continue;
                }
                m.conversations += 1;
                m.cost_nano = m.cost_nano.saturating_add(c.cost_nano);
                for (name, v) in self.by_model(c) {
                    match m.by_model.get_mut(name) {
                        Some(e) => *e = e.saturating_add(v),
                        None => {
                            m.by_model.insert(name.to_string(), v);
                        }
                    }
                }
            }
            m
        })
    }

    /// Index of conversation `id`, inserted (at its place in id order) if new.
    fn slot(&mut self, id: u64) -> usize {
        let n = self.convs.len();
        let at = match self.convs.last() {
            Some(last) if last.id == id => return n - 1,
            Some(last) if last.id > id => {
                // The conversations in flight are among the most recent: search those first.
                let tail = n.saturating_sub(RECENT);
                let from = if self.convs[tail].id <= id { tail } else { 0 };
                match self.convs[from..].binary_search_by_key(&id, |c| c.id) {
                    Ok(i) => return from + i,
                    Err(i) => from + i,
                }
            }
            _ => n,
        };
        self.convs.insert(
            at,
            ConvCost {
                id,
                cost_nano: 0,
                model: NO_MODEL,
                multi: false,
                incomplete: false,
            },
        );
        at
    }

    /// Every conversation, in id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &ConvCost> + '_ {
        self.convs.iter()
    }

    /// Conversation `id`, if the target saw it.
    pub(crate) fn get(&self, id: u64) -> Option<&ConvCost> {
        let i = self.convs.binary_search_by_key(&id, |c| c.id).ok()?;
        Some(&self.convs[i])
    }

    /// Leave conversation `id` out of the projection (another target did not measure it whole).
    pub(crate) fn mark_incomplete(&mut self, id: u64) {
        self.changed();
        if let Ok(i) = self.convs.binary_search_by_key(&id, |c| c.id) {
            self.convs[i].incomplete = true;
        }
    }

    /// A conversation's cost per model (models that cost nothing are left out), as (name, nano-dollars).
    pub(crate) fn by_model<'a>(
        &'a self,
        c: &'a ConvCost,
    ) -> impl Iterator<Item = (&'a str, u64)> + 'a {
        let single = (!c.multi && c.model != NO_MODEL).then_some((c.model, c.cost_nano));
        let from = if c.multi {
            self.split.partition_point(|s| s.id < c.id)
        } else {
            self.split.len()
        };
        let split = self.split[from..]
            .iter()
            .take_while(|s| s.id == c.id)
            .map(|s| (s.model, s.cost));
        single
            .into_iter()
            .chain(split)
            .map(|(m, v)| (self.models[m as usize].as_str(), v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_model(cc: &ConvCosts, id: u64) -> Vec<(String, u64)> {
        let c = cc.get(id).unwrap();
        let mut v: Vec<(String, u64)> = cc.by_model(c).map(|(m, v)| (m.to_string(), v)).collect();
        v.sort();
        v
    }

    #[test]
    fn conversations_in_id_order_with_their_cost_per_model() {
        let mut cc = ConvCosts::default();
        // Rows out of order, as a run writes them (by completion): 5, 3, 9, 5 again, 1, 3 again, 7.
        cc.add(5, "a", 100, false);
        cc.add(3, "a", 10, false);
        cc.add(9, "b", 0, true);
        cc.add(5, "b", 40, false);
        cc.add(1, "a", 0, false);
        cc.add(3, "a", 20, false);
        cc.add(7, "b", 7, false);
        cc.add(5, "a", 1, false);
        let ids: Vec<u64> = cc.iter().map(|c| c.id).collect();
        assert_eq!(ids, vec![1, 3, 5, 7, 9]);
        let costs: Vec<u64> = cc.iter().map(|c| c.cost_nano).collect();
        assert_eq!(costs, vec![0, 30, 141, 7, 0]);
        assert_eq!(by_model(&cc, 1), vec![]);
        assert_eq!(by_model(&cc, 3), vec![("a".into(), 30)]);
        // 100 + 1 on a, 40 on b.
        assert_eq!(by_model(&cc, 5), vec![("a".into(), 101), ("b".into(), 40)]);
        assert_eq!(by_model(&cc, 7), vec![("b".into(), 7)]);
        assert!(cc.get(9).unwrap().incomplete && !cc.get(7).unwrap().incomplete);
        // Measured whole: 1, 3, 5, 7 (9 was not): 0 + 30 + 141 + 7 = 178; a: 30 + 101, b: 40 + 7.
        let m = cc.measured().clone();
        assert_eq!((m.conversations, m.incomplete, m.cost_nano), (4, 1, 178));
        assert_eq!(
            m.by_model,
            BTreeMap::from([("a".into(), 131), ("b".into(), 47)])
        );
        cc.mark_incomplete(3);
        cc.mark_incomplete(4);
        assert!(cc.get(3).unwrap().incomplete);
        assert!(cc.get(4).is_none());
        // The sums follow the change: 3 (30 on a) left them.
        let m = cc.measured().clone();
        assert_eq!((m.conversations, m.incomplete, m.cost_nano), (3, 2, 148));
        assert_eq!(
            m.by_model,
            BTreeMap::from([("a".into(), 101), ("b".into(), 47)])
        );
        cc.add(11, "b", 3, false);
        assert_eq!(cc.measured().by_model["b"], 50);
    }

    #[test]
    fn conversations_of_several_models_out_of_order_keep_each_share() {
        // 3,000 conversations (more than RECENT, so the whole-vector search runs too), visited by a stride coprime to
        // 3,000 three times: k spends 1 on "a", then 10 on "b" if k is even, then 100 on "a" again if k % 3 == 0.
        let mut cc = ConvCosts::default();
        for round in 0..3u64 {
            for j in 0..3000u64 {
                let k = (j * 11) % 3000;
                match round {
                    0 => cc.add(k, "a", 1, false),
                    1 if k % 2 == 0 => cc.add(k, "b", 10, false),
                    2 if k % 3 == 0 => cc.add(k, "a", 100, false),
                    _ => cc.add(k, "b", 0, false),
                }
            }
        }
        for k in [0u64, 1, 2, 3, 2999] {
            let a = 1 + if k % 3 == 0 { 100 } else { 0 };
            let b = if k % 2 == 0 { 10 } else { 0 };
            let mut want = vec![("a".to_string(), a)];
            if b > 0 {
                want.push(("b".into(), b));
            }
            assert_eq!(by_model(&cc, k), want, "conversation {k}");
            assert_eq!(cc.get(k).unwrap().cost_nano, a + b);
        }
        // a: 3,000 x 1 + 1,000 x 100; b: 1,500 x 10.
        let m = cc.measured();
        assert_eq!(
            m.by_model,
            BTreeMap::from([("a".into(), 103_000), ("b".into(), 15_000)])
        );
        assert_eq!(m.cost_nano, 118_000);
    }

    #[test]
    fn many_conversations_in_any_order_are_each_found_once() {
        // 0..2000 by a stride coprime to 2000 (every id once, far from sorted), then each again: 2000 conversations
        // of 2 nano-dollars each.
        let mut cc = ConvCosts::default();
        for round in 0..2 {
            for k in 0..2000u64 {
                cc.add((k * 7 + round) % 2000, "m", 1, false);
            }
        }
        assert_eq!(cc.iter().count(), 2000);
        assert!(cc
            .iter()
            .enumerate()
            .all(|(i, c)| c.id == i as u64 && c.cost_nano == 2));
    }
}
