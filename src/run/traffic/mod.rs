//! The traffic a scenario describes, generated lazily and deterministically from its seed, so every target replays
//! exactly the same conversations (same arrival instants, users, prompts, models, stream flags, turn counts).

pub(crate) mod arrivals;
pub(crate) mod canary;
pub(crate) mod shapes;

use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub(crate) use self::arrivals::{Arrivals, RateProfile};
pub(crate) use self::canary::canary_route;
use crate::config::prices::PriceTable;
use crate::config::scenario::{Loaded, Scenario};

#[derive(Debug, Clone)]
pub(crate) struct ConvPlan {
    /// 0-based order of arrival.
    pub(crate) index: u64,
    pub(crate) user: u64,
    /// Wall-clock offset of the arrival from the run start.
    pub(crate) offset: Duration,
    /// Arrived within `traffic.warmup_s`: sent and recorded, kept out of the statistics.
    pub(crate) warmup: bool,
    pub(crate) turns: Vec<TurnPlan>,
}

#[derive(Debug, Clone)]
pub(crate) struct TurnPlan {
    pub(crate) prompt: Arc<str>,
    /// Canonical catalogue name (aliases resolved).
    pub(crate) model: Arc<str>,
    pub(crate) stream: bool,
    /// Wall-clock pause after the previous answer before this turn is sent (0 for the first turn).
    pub(crate) think: Duration,
}

pub(crate) struct TrafficGen {
    rng: ChaCha8Rng,
    next_index: u64,
    /// None in a closed run: conversations come without instants (offset 0), as many as asked for.
    arrivals: Option<Arrivals>,
    turn_weights: Vec<(u32, f64)>,
    model_weights: Vec<(Arc<str>, f64)>,
    routing: Vec<(Vec<String>, Arc<str>)>,
    prompts: Vec<Arc<str>>,
    prompts_lower: Vec<String>,
    stream_share: f64,
    warmup_s: f64,
    users: u64,
    think: f64,
}

impl TrafficGen {
    /// A constant `rate` of conversations per wall-clock second; arrivals stop at `window` seconds (tests).
    #[cfg(test)]
    pub(crate) fn new(s: &Scenario, prices: &PriceTable, rate: f64, window: f64) -> TrafficGen {
        Self::with_profile(s, prices, RateProfile::constant(rate, window))
    }

    /// The scenario's own traffic over `window` seconds: its shape, or its constant rate.
    pub(crate) fn planned(loaded: &Loaded, window: f64) -> TrafficGen {
        let profile = planned_profile(loaded, window);
        let mut g = Self::with_profile(&loaded.scenario, &loaded.prices, profile);
        if loaded.scenario.traffic.closed.is_some() {
            g.arrivals = None;
        }
        g
    }

    /// Arrivals follow `profile` (Poisson or uniform as the scenario says).
    pub(crate) fn with_profile(
        s: &Scenario,
        prices: &PriceTable,
        profile: RateProfile,
    ) -> TrafficGen {
        let t = &s.traffic;
        let canon = |m: &str| -> Arc<str> { Arc::from(prices.resolve(m).unwrap_or(m)) };
        let time_scale = t.time_scale.unwrap_or(1.0);
        TrafficGen {
            rng: ChaCha8Rng::seed_from_u64(s.seed),
            next_index: 0,
            arrivals: Some(Arrivals::new(profile, t.arrival)),
            turn_weights: t.turns.iter().map(|w| (w.turns, w.weight)).collect(),
            model_weights: t
                .models
                .iter()
                .map(|w| (canon(&w.model), w.weight))
                .collect(),
            routing: t
                .routing
                .iter()
                .map(|r| {
                    (
                        r.keywords.iter().map(|k| k.to_lowercase()).collect(),
                        canon(&r.model),
                    )
                })
                .collect(),
            prompts: t.prompts.iter().map(|p| Arc::from(p.as_str())).collect(),
            prompts_lower: t.prompts.iter().map(|p| p.to_lowercase()).collect(),
            stream_share: t.stream_share,
            warmup_s: t.warmup_s,
            users: t.users,
            think: t.think_time_s / time_scale,
        }
    }

    fn pick<T: Clone>(rng: &mut ChaCha8Rng, items: &[(T, f64)]) -> T {
        let x: f64 = rng.gen();
        let mut acc = 0.0;
        for (v, w) in items {
            acc += w;
            if x < acc {
                return v.clone();
            }
        }
        items.last().expect("validated non-empty").0.clone()
    }

    /// The model for a message: the first routing rule with a keyword in the prompt, else the weighted mix.
    fn model_for(&mut self, prompt_idx: usize) -> Arc<str> {
        // Draw from the mix even when a rule matches, so adding a rule changes only the matched messages' models
        // and leaves the rest of the generated traffic identical.
        let mixed = Self::pick(&mut self.rng, &self.model_weights);
        let text = &self.prompts_lower[prompt_idx];
        for (keywords, model) in &self.routing {
            if keywords.iter().any(|k| text.contains(k.as_str())) {
                return model.clone();
            }
        }
        mixed
    }
}

/// The rate profile a scenario plans over `window` seconds of arrivals.
pub(crate) fn planned_profile(loaded: &Loaded, window: f64) -> RateProfile {
    shapes::profile(
        &loaded.scenario.traffic,
        loaded.conversations_per_wall_second(),
        window,
    )
}

impl Iterator for TrafficGen {
    type Item = ConvPlan;

    fn next(&mut self) -> Option<ConvPlan> {
        let at = match &mut self.arrivals {
            Some(a) => a.next_offset(&mut self.rng)?,
            None => 0.0,
        };
        let index = self.next_index;
        self.next_index += 1;
        let user = self.rng.gen_range(0..self.users);
        let n = Self::pick(&mut self.rng, &self.turn_weights);
        let mut turns = Vec::with_capacity(n as usize);
        for k in 0..n {
            let p = self.rng.gen_range(0..self.prompts.len());
            let model = self.model_for(p);
            let stream = self.rng.gen::<f64>() < self.stream_share;
            let think = if k == 0 || self.think == 0.0 {
                Duration::ZERO
            } else {
                // exponential think time around the mean
                let u: f64 = self.rng.gen_range(f64::EPSILON..1.0);
                Duration::from_secs_f64(-u.ln() * self.think)
            };
            turns.push(TurnPlan {
                prompt: self.prompts[p].clone(),
                model,
                stream,
                think,
            });
        }
        Some(ConvPlan {
            index,
            user,
            offset: Duration::from_secs_f64(at),
            warmup: at < self.warmup_s,
            turns,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::scenario::{Arrival, Canary, CanaryPhase};

    fn scenario() -> (Scenario, PriceTable) {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/coze-migration.yaml"
        ))
        .unwrap();
        Scenario::load_str(
            &text,
            "s.yaml",
            std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios")),
        )
        .unwrap()
    }

    #[test]
    fn same_seed_same_traffic_and_mix_matches_weights() {
        let (s, p) = scenario();
        let a: Vec<ConvPlan> = TrafficGen::new(&s, &p, 100.0, 50.0).collect();
        let b: Vec<ConvPlan> = TrafficGen::new(&s, &p, 100.0, 50.0).collect();
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.offset, y.offset);
            assert_eq!(x.user, y.user);
            assert_eq!(x.turns.len(), y.turns.len());
            for (t, u) in x.turns.iter().zip(&y.turns) {
                assert_eq!(
                    (&t.prompt, &t.model, t.stream),
                    (&u.prompt, &u.model, u.stream)
                );
            }
        }
        // ~5,000 Poisson arrivals: within 5 sigma (~ +-350)
        assert!((a.len() as i64 - 5000).abs() < 350, "{}", a.len());
        let turns: Vec<&TurnPlan> = a.iter().flat_map(|c| &c.turns).collect();
        let streamed = turns.iter().filter(|t| t.stream).count() as f64 / turns.len() as f64;
        assert!(
            (streamed - s.traffic.stream_share).abs() < 0.02,
            "{streamed}"
        );
        for w in &s.traffic.models {
            let share =
                turns.iter().filter(|t| *t.model == *w.model).count() as f64 / turns.len() as f64;
            assert!((share - w.weight).abs() < 0.02, "{} {share}", w.model);
        }
        assert!(a.last().unwrap().offset < Duration::from_secs(50));
    }

    /// Uniform arrivals sit at k / rate for k = 0, 1, ... while k / rate < duration: ceil(rate x duration) of them
    /// (exactly rate x duration when that is whole). Rates p / q and durations d are chosen so the expected count
    /// is computed in integers, independently of the generator's floating point.
    #[test]
    fn uniform_arrivals_count_exactly_ceil_of_rate_times_duration() {
        let (mut s, p) = scenario();
        s.traffic.arrival = Arrival::Uniform;
        let mut wrong = Vec::new();
        for num in [1u64, 2, 3, 5, 7, 10, 13, 25, 40] {
            for den in [1u64, 3, 4, 7, 10] {
                for d in [1u64, 3, 10, 17, 30] {
                    let rate = num as f64 / den as f64;
                    let expected = (num * d).div_ceil(den);
                    let got = TrafficGen::new(&s, &p, rate, d as f64).count() as u64;
                    if got != expected {
                        wrong.push((num, den, d, expected, got));
                    }
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "(num, den, duration, expected, got): {wrong:?}"
        );
    }

    #[test]
    fn a_shaped_scenario_gives_every_target_the_same_arrivals() {
        let (mut s, p) = scenario();
        s.traffic.shape = Some(crate::config::shape::Shape {
            spike: Some(crate::config::shape::Spike {
                base: 20.0,
                peak: 200.0,
                at_s: 5.0,
                duration_s: 2.0,
            }),
            ..Default::default()
        });
        let loaded = Loaded {
            scenario: s,
            path: "s.yaml".into(),
            base_dir: ".".into(),
            prices: p,
        };
        let a: Vec<ConvPlan> = TrafficGen::planned(&loaded, 10.0).collect();
        let b: Vec<ConvPlan> = TrafficGen::planned(&loaded, 10.0).collect();
        let offsets = |v: &[ConvPlan]| v.iter().map(|c| (c.offset, c.user)).collect::<Vec<_>>();
        assert_eq!(offsets(&a), offsets(&b));
        // 20/s for 8 s and 200/s for 2 s: ~560 arrivals, ~400 of them in the spike
        let in_spike = a
            .iter()
            .filter(|c| (5.0..7.0).contains(&c.offset.as_secs_f64()))
            .count();
        assert!((300..500).contains(&in_spike), "{in_spike} of {}", a.len());
    }

    #[test]
    fn routing_rules_pick_the_model_by_keyword() {
        let (mut s, p) = scenario();
        s.traffic.routing = vec![crate::config::scenario::RouteRule {
            keywords: vec!["REFUND".into()],
            model: "deepseek-v3.2".into(),
        }];
        let plans: Vec<ConvPlan> = TrafficGen::new(&s, &p, 50.0, 20.0).collect();
        let mut matched = 0;
        for t in plans.iter().flat_map(|c| &c.turns) {
            if t.prompt.to_lowercase().contains("refund") {
                matched += 1;
                assert_eq!(&*t.model, "deepseek-v3.2");
            }
        }
        assert!(matched > 0, "the bundled prompts mention refunds");
    }

    #[test]
    fn canary_users_stay_on_their_path_and_shares_hold() {
        let c = Canary {
            salt: "s".into(),
            phases: [0.05, 0.15, 0.5, 1.0]
                .iter()
                .enumerate()
                .map(|(i, &share)| CanaryPhase {
                    name: format!("p{i}"),
                    share,
                    duration_s: 10.0,
                    thresholds: vec![],
                })
                .collect(),
        };
        let n = 20_000u64;
        for (i, share) in [0.05, 0.15, 0.5, 1.0].iter().enumerate() {
            let at = Duration::from_secs(10 * i as u64 + 5);
            let on = (0..n)
                .filter(|&u| canary_route(&c, at, u).unwrap().1)
                .count() as f64
                / n as f64;
            assert!((on - share).abs() < 0.01, "phase {i}: {on}");
            // monotone: a user on the gateway in phase i stays there in phase i+1
            if i < 3 {
                let next = Duration::from_secs(10 * (i as u64 + 1) + 5);
                for u in 0..n {
                    if canary_route(&c, at, u).unwrap().1 {
                        assert!(canary_route(&c, next, u).unwrap().1);
                    }
                }
            }
        }
        assert_eq!(canary_route(&c, Duration::from_secs(41), 1), None);
    }
}
