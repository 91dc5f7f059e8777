//! What a scenario will do, before it does it: per target the arrival rate, the expected conversations and requests,
//! the offered request rate against `limits.max_rps`, and the canary phases. `cutover validate` prints it.

use std::fmt::Write as _;

use crate::config::scenario::{Loaded, ProtocolKind, Role};

/// The expected load on one target.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TargetPlan {
    pub(crate) name: String,
    /// Conversations per wall-clock second arriving at this target (its canary share, averaged over the phases).
    pub(crate) conversations_per_s: f64,
    pub(crate) conversations: f64,
    pub(crate) requests: f64,
    /// Requests per second offered at steady state (conversations/s x requests per conversation).
    pub(crate) offered_rps: f64,
}

/// The plan of a whole run for an arrival window of `duration_s` seconds, with its warnings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    pub(crate) duration_s: f64,
    pub(crate) targets: Vec<TargetPlan>,
    pub(crate) warnings: Vec<String>,
}

pub(crate) fn plan(loaded: &Loaded, duration_s: f64) -> Plan {
    let s = &loaded.scenario;
    let rate = loaded.conversations_per_wall_second();
    let tr = &s.traffic;
    let turns = tr.mean_requests_per_conversation() - 1.0;
    let mut warnings = Vec::new();
    // Share of all conversations each role receives over the window (canary phases route users by share).
    let (gateway_share, window) = match &s.canary {
        None => (None, duration_s),
        Some(c) => {
            let total: f64 = c.phases.iter().map(|p| p.duration_s).sum();
            if duration_s < total {
                warnings.push(format!(
                    "the arrival window ({duration_s} s) is shorter than the canary phases ({total} s): later phases get no traffic"
                ));
            }
            let mut left = duration_s;
            let mut weighted = 0.0;
            for p in &c.phases {
                let d = p.duration_s.min(left.max(0.0));
                weighted += d * p.share;
                left -= d;
            }
            let window = duration_s.min(total);
            (
                Some(if window > 0.0 { weighted / window } else { 0.0 }),
                window,
            )
        }
    };
    let mut targets = Vec::new();
    for t in &s.targets {
        let share = match (gateway_share, t.role) {
            (None, _) => 1.0,
            (Some(g), Role::Gateway) => g,
            (Some(g), Role::Legacy) => 1.0 - g,
        };
        let per_conv = turns
            + if t.protocol == ProtocolKind::Coze {
                1.0
            } else {
                0.0
            };
        let cps = rate * share;
        let tp = TargetPlan {
            name: t.name.clone(),
            conversations_per_s: cps,
            conversations: cps * window,
            requests: cps * window * per_conv,
            offered_rps: cps * per_conv,
        };
        if tp.offered_rps > s.limits.max_rps && tr.closed.is_none() {
            warnings.push(format!(
                "target `{}`: ~{:.1} requests/s offered exceeds limits.max_rps {}: sends will queue behind the cap and from-schedule latency will grow",
                t.name, tp.offered_rps, s.limits.max_rps
            ));
        }
        targets.push(tp);
    }
    if let Some(c) = tr.closed {
        if (c.vus as usize) > s.limits.max_in_flight {
            warnings.push(format!(
                "traffic.closed.vus {} is above limits.max_in_flight {}: the extra users' requests end as not_sent (max_in_flight)",
                c.vus, s.limits.max_in_flight
            ));
        }
    }
    Plan {
        duration_s,
        targets,
        warnings,
    }
}

/// The requests per second an open-model run offers at its busiest (every target together, a shape's highest
/// segment); None for a closed run, whose rate is whatever its targets answer.
pub(crate) fn peak_offered_rps(loaded: &Loaded, duration_s: f64) -> Option<f64> {
    let tr = &loaded.scenario.traffic;
    if tr.closed.is_some() {
        return None;
    }
    let base = loaded.conversations_per_wall_second();
    let peak = crate::run::traffic::shapes::profile(tr, base, duration_s).peak_rate();
    let steady: f64 = plan(loaded, duration_s)
        .targets
        .iter()
        .map(|t| t.offered_rps)
        .sum();
    Some(if base > 0.0 {
        steady * peak / base
    } else {
        0.0
    })
}

/// The plan as `validate` prints it.
pub(crate) fn describe(loaded: &Loaded, p: &Plan) -> String {
    let s = &loaded.scenario;
    let mut o = String::new();
    match s.traffic.closed {
        Some(c) => describe_closed(&mut o, loaded, p, c.vus),
        None => describe_open(&mut o, loaded, p),
    }
    if let Some(c) = &s.canary {
        for (i, ph) in c.phases.iter().enumerate() {
            let _ = writeln!(
                o,
                "  canary phase {i} `{}`: {:.0}% of users to the gateway for {} s, {} thresholds",
                ph.name,
                ph.share * 100.0,
                ph.duration_s,
                ph.thresholds.len()
            );
        }
    }
    for w in &p.warnings {
        let _ = writeln!(o, "warning: {w}");
    }
    o
}

/// An open run's plan: its arrival rate, and per target the expected conversations, requests and offered rate.
fn describe_open(o: &mut String, loaded: &Loaded, p: &Plan) {
    let s = &loaded.scenario;
    let _ = writeln!(
        o,
        "{}: ok: {} targets, {:.1} conversations/s for {} s ({:?} arrivals, ~{:.1} turns per conversation), {} thresholds",
        loaded.path.display(),
        s.targets.len(),
        loaded.conversations_per_wall_second(),
        p.duration_s,
        s.traffic.arrival,
        s.traffic.mean_requests_per_conversation() - 1.0,
        s.thresholds.len()
    );
    for t in &p.targets {
        let _ = writeln!(
            o,
            "  {:<12} {:>8.2} conversations/s  ~{:.0} conversations  ~{:.0} requests  ~{:.1} requests/s offered (max_rps {})",
            t.name, t.conversations_per_s, t.conversations, t.requests, t.offered_rps, s.limits.max_rps
        );
    }
}

/// A closed run's plan: its virtual users, not a rate (how many conversations they get through is the result).
fn describe_closed(o: &mut String, loaded: &Loaded, p: &Plan, vus: u32) {
    let s = &loaded.scenario;
    let _ = writeln!(
        o,
        "{}: ok: {} targets, closed: {vus} virtual users per target for {} s, conversations back to back (~{:.1} turns each), {} thresholds",
        loaded.path.display(),
        s.targets.len(),
        p.duration_s,
        s.traffic.mean_requests_per_conversation() - 1.0,
        s.thresholds.len()
    );
    for t in &p.targets {
        let _ = writeln!(
            o,
            "  {:<12} {vus} virtual users: as many conversations as it answers (max_rps {})",
            t.name, s.limits.max_rps
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::scenario::Scenario;

    fn loaded(extra_limits: &str) -> Loaded {
        loaded_with("", extra_limits)
    }

    fn loaded_with(extra_traffic: &str, extra_limits: &str) -> Loaded {
        let text = format!(
            "name: p\ntargets:\n  - {{name: gw, role: gateway, protocol: openai, base_url: \"http://127.0.0.1:9\"}}\n\
             traffic:\n{extra_traffic}  conversations_per_day: 864000\n  duration_s: 30\n  turns: [{{turns: 1, weight: 0.5}}, {{turns: 3, weight: 0.5}}]\n  \
             stream_share: 0\n  models: [{{model: m1, weight: 1}}]\n  prompts: [hi]\n\
             limits:\n  max_duration_s: 60\n{extra_limits}\
             prices:\n  currency: USD\n  models:\n    m1: {{input_per_mtok: 1, output_per_mtok: 2}}\n"
        );
        let (scenario, prices) =
            Scenario::load_str(&text, "p.yaml", std::path::Path::new(".")).unwrap();
        Loaded {
            scenario,
            path: "p.yaml".into(),
            base_dir: ".".into(),
            prices,
        }
    }

    #[test]
    fn plan_counts_conversations_and_requests_and_warns_over_max_rps() {
        // 864000 a day = 10 conversations/s; turns 1 or 3 half each = 2 requests per conversation.
        let l = loaded("");
        let p = plan(&l, 30.0);
        assert_eq!(p.targets.len(), 1);
        let t = &p.targets[0];
        assert!((t.conversations_per_s - 10.0).abs() < 1e-9);
        assert!((t.conversations - 300.0).abs() < 1e-6);
        assert!((t.requests - 600.0).abs() < 1e-6);
        assert!((t.offered_rps - 20.0).abs() < 1e-9);
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        let capped = loaded("  max_rps: 15\n");
        let p = plan(&capped, 30.0);
        assert_eq!(p.warnings.len(), 1);
        assert!(p.warnings[0].contains("max_rps 15"), "{}", p.warnings[0]);
    }

    #[test]
    fn a_closed_plan_names_its_users_and_warns_when_the_in_flight_cap_is_lower() {
        let mut l = loaded("  max_rps: 15\n  max_in_flight: 8\n");
        l.scenario.traffic.closed = Some(crate::config::scenario::Closed { vus: 12 });
        let p = plan(&l, 30.0);
        // no offered rate in a closed run, so no max_rps warning; 12 users over a cap of 8 is one
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert!(p.warnings[0].contains("vus 12 is above limits.max_in_flight 8"));
        let text = describe(&l, &p);
        assert!(
            text.contains("closed: 12 virtual users per target for 30 s"),
            "{text}"
        );
        assert!(!text.contains("conversations/s"), "{text}");
    }

    #[test]
    fn the_peak_offered_rate_is_the_shapes_highest_segment_times_requests_per_conversation() {
        // Constant: 10 conversations/s x 2 requests each.
        assert_eq!(peak_offered_rps(&loaded(""), 30.0), Some(20.0));
        // Steps of 5 then 40 conversations/s: the busiest is 40 x 2 = 80 requests/s.
        let steps = "  shape: {steps: [{rate: 5, hold_s: 10}, {rate: 40, hold_s: 10}]}\n";
        assert_eq!(peak_offered_rps(&loaded_with(steps, ""), 30.0), Some(80.0));
        // A closed run offers no rate of its own.
        let mut l = loaded("");
        l.scenario.traffic.closed = Some(crate::config::scenario::Closed { vus: 12 });
        assert_eq!(peak_offered_rps(&l, 30.0), None);
    }
}
