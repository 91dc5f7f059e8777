//! Every measured definition pinned through the real binary against servers whose byte instants the test scripts:
//! TTFT, TTFB, ITL, latency, e2e, from-schedule latency, tokens and cost (PROTOCOLS.md, "Metric definitions").
//! Expected figures come from the server's script; the tolerances allow for a loaded 2-core machine and stay far
//! from the value each plausible bug would give (named in each assertion's comment).

mod support;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::json;
use support::*;

const MS: Duration = Duration::from_millis(1);
/// Slack above a scripted instant (scheduling on a busy, shared 2-core machine); nothing arrives before its
/// scripted instant, and every bug these tests aim at moves a figure by far more than this.
const LATE: f64 = 60.0;

/// 1.234 and 5.677 USD per million tokens = 1,234 and 5,677 nano-dollars per token.
const PRICE: (f64, f64) = (1.234, 5.677);
const NANO: (u64, u64) = (1234, 5677);

fn plan() -> StreamPlan {
    StreamPlan {
        head_at: 100 * MS,
        first_content: 300 * MS,
        gap: 50 * MS,
        contents: 4,
        prompt_tokens: 17,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Timing figures shared by the OpenAI and Coze stream tests.
fn assert_stream_timing(r: &Row, p: &StreamPlan) {
    assert_eq!(r.outcome, "ok", "{r:?}");
    assert!(r.stream);
    // Headers at 100 ms. (TTFT-at-first-byte would put TTFT here.)
    assert_near("ttfb_ms", r.ttfb_ms.unwrap(), ms(p.head_at), 0.5, LATE);
    // First answer content at 300 ms: neither the first byte (100 ms), the role-only chunk / chat.created (100 ms)
    // nor a non-answer delta (200 ms) counts.
    assert_near(
        "ttft_ms",
        r.ttft_ms.unwrap(),
        ms(p.first_content),
        0.5,
        LATE,
    );
    // (last - first content) / (output tokens - 1) = 150 / 3 = 50 ms; dividing by output tokens would give 37.5.
    // (Four tokens keep that gap wide: a 15 ms late read of the last chunk moves the figure by 5 ms.)
    assert_near("itl_ms", r.itl_ms.unwrap(), ms(p.gap), 5.0, 5.0);
    assert_eq!(r.chunks, p.contents);
    // Latency runs to the end marker; no retry, so e2e is the same figure (give or take building the request);
    // from-schedule is never shorter.
    let lat = r.latency_ms.unwrap();
    assert_near("latency_ms", lat, ms(p.end()), 0.5, LATE);
    assert_near("e2e_ms", r.e2e_ms.unwrap(), lat, 0.0, 5.0);
    assert!(r.from_scheduled_ms.unwrap() >= lat, "{r:?}");
    // Tokens from the server's usage, cost from the test's price table: 17 x 1,234 + 4 x 5,677 = 43,686 nano-USD
    // (rounding each request to micro-dollars would give 44,000).
    assert_eq!(
        (r.input_tokens, r.output_tokens, r.tokens_estimated),
        (17, 4, false)
    );
    assert_eq!(r.cost_nano_usd, 17 * NANO.0 + 4 * NANO.1);
    assert_eq!(r.cost_nano_usd, 43_686);
}

#[test]
fn openai_stream_timings_tokens_and_cost_follow_the_definitions() {
    let tmp = tempfile::tempdir().unwrap();
    let p = plan();
    let server = Server::start(move |r| match openai_problem(r, "t8-model", true) {
        Some(why) => Reply::refuse(&why),
        None => openai_stream(&p, "t8-model"),
    });
    // Arrivals at 0, 0.5 and 1.0 s: three conversations of one streamed turn.
    let mut s = Scn::new(
        vec![Target::openai("gw", "gateway", &server.base_url)],
        2.0,
        1.25,
    );
    s.stream_share = 1.0;
    s.price = PRICE;
    let (o, dir) = run_scenario(tmp.path(), &s.write(tmp.path()), "reports");
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let rows = rows(&dir);
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(server.count(), 3);
    for r in &rows {
        assert_stream_timing(r, &p);
    }
}

/// A Coze v3 stream: chat.created and in_progress before any answer, a non-answer (`verbose`) delta, then answer
/// deltas at the plan's instants, usage on chat.completed, `done`.
fn coze_stream(p: &StreamPlan, conv: &str) -> Reply {
    let chat = |status: &str| json!({"id": "chat-1", "conversation_id": conv, "bot_id": "7350", "status": status});
    let delta = |kind: &str, text: &str| {
        json!({"id": "m1", "conversation_id": conv, "bot_id": "7350", "chat_id": "chat-1", "role": "assistant",
               "type": kind, "content": text, "content_type": "text"})
    };
    let mut ev = vec![
        (
            p.head_at,
            coze_event("conversation.chat.created", chat("created")),
        ),
        (
            p.head_at + 20 * MS,
            coze_event("conversation.chat.in_progress", chat("in_progress")),
        ),
        (
            200 * MS,
            coze_event(
                "conversation.message.delta",
                delta("verbose", "{\"msg_type\":\"x\"}"),
            ),
        ),
    ];
    for i in 0..p.contents {
        let at = p.first_content + p.gap * i;
        ev.push((
            at,
            coze_event(
                "conversation.message.delta",
                delta("answer", &format!("w{i} ")),
            ),
        ));
        if i == 0 {
            // a follow_up delta between answers is not an answer token either
            ev.push((
                at + 10 * MS,
                coze_event("conversation.message.delta", delta("follow_up", "more?")),
            ));
        }
    }
    let mut done = chat("completed");
    done["usage"] =
        json!({"token_count": 21, "output_count": p.contents, "input_count": p.prompt_tokens});
    ev.push((
        p.end(),
        coze_event("conversation.chat.completed", done) + "event:done\ndata:\"[DONE]\"\n\n",
    ));
    Reply::sse(p.head_at, ev)
}

#[test]
fn coze_stream_timings_skip_lifecycle_events_and_non_answer_deltas() {
    let tmp = tempfile::tempdir().unwrap();
    let p = plan();
    let created = std::sync::Arc::new(Mutex::new(0u32));
    let server = Server::start(move |r| {
        if !r.authorized() {
            return Reply::refuse("bad Authorization");
        }
        match (r.method.as_str(), r.path_only()) {
            ("POST", "/v1/conversation/create") if r.body["bot_id"] == json!("7350") => {
                let mut n = created.lock().unwrap();
                *n += 1;
                Reply::json(200, coze_envelope(json!({"id": format!("conv-{n}")})), MS)
            }
            ("POST", "/v3/chat") => {
                let conv = r.query("conversation_id").unwrap_or_default();
                let known = conv
                    .strip_prefix("conv-")
                    .and_then(|n| n.parse::<u32>().ok())
                    .is_some_and(|n| n >= 1 && n <= *created.lock().unwrap());
                if !known || r.body["stream"] != json!(true) || r.body["bot_id"] != json!("7350") {
                    return Reply::refuse(&format!("bad chat request {} {}", r.path, r.body));
                }
                coze_stream(&p, &conv)
            }
            _ => Reply::refuse(&format!("unexpected {} {}", r.method, r.path)),
        }
    });
    // Two conversations (0 and 0.6 s) of two streamed turns: 2 creates + 4 chats.
    let mut s = Scn::new(
        vec![Target::coze("legacy", &server.base_url, "7350")],
        1.0 / 0.6,
        0.9,
    );
    s.stream_share = 1.0;
    s.turns = 2;
    s.price = PRICE;
    let (o, dir) = run_scenario(tmp.path(), &s.write(tmp.path()), "reports");
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let rows = rows(&dir);
    let creates: Vec<&Row> = rows.iter().filter(|r| r.turn == 0).collect();
    let chats: Vec<&Row> = rows.iter().filter(|r| r.turn > 0).collect();
    assert_eq!((creates.len(), chats.len()), (2, 4), "{rows:?}");
    assert!(creates
        .iter()
        .all(|r| r.outcome == "ok" && r.cost_nano_usd == 0));
    for r in chats {
        assert_stream_timing(r, &p);
    }
    assert_eq!(server.count(), 6);
}

#[test]
fn from_schedule_latency_includes_the_wait_for_the_rate_cap() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(|r| match openai_problem(r, "t8-model", false) {
        Some(why) => Reply::refuse(&why),
        None => openai_json("t8-model", 10, 5, 100 * MS),
    });
    // Four arrivals at 0, 50, 100, 150 ms; `max_rps: 2` lets one request leave every 500 ms, so the sends are at
    // about 0, 500, 1000 and 1500 ms: together they wait (0 + 500 + 1000 + 1500) - (0 + 50 + 100 + 150) = 2,700 ms
    // between schedule and send.
    let mut s = Scn::new(
        vec![Target::openai("gw", "gateway", &server.base_url)],
        20.0,
        0.175,
    );
    s.limits = "  max_rps: 2\n".into();
    let (o, dir) = run_scenario(tmp.path(), &s.write(tmp.path()), "reports");
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let rows = rows(&dir);
    assert_eq!(rows.len(), 4);
    let recv = server.requests();
    assert_eq!(recv.len(), 4);
    // The cap itself, seen by the server: the last request arrives at least 1.5 s after the first.
    let span = recv[3].at.duration_since(recv[0].at);
    assert!(span >= Duration::from_millis(1450), "{span:?}");
    let mut queued = 0.0;
    for r in &rows {
        assert_eq!(r.outcome, "ok", "{r:?}");
        let lat = r.latency_ms.unwrap();
        // each server answers 100 ms after it reads the request
        assert_near("latency_ms", lat, 100.0, 0.5, LATE);
        queued += r.from_scheduled_ms.unwrap() - lat;
    }
    // Measured from the send instant instead, the sum would be about 0.
    assert_near(
        "sum of from-schedule minus latency",
        queued,
        2700.0,
        60.0,
        300.0,
    );
}

#[test]
fn retry_waits_count_in_e2e_but_not_in_latency() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(|r| {
        if let Some(why) = openai_problem(r, "t8-model", false) {
            return Reply::refuse(&why);
        }
        if r.index == 0 {
            // first attempt: 503 after 50 ms, asking for a 200 ms wait
            let mut rep = Reply::json(503, json!({"error": {"message": "busy"}}), 50 * MS);
            rep.extra_headers
                .push(("retry-after-ms".into(), "200".into()));
            rep
        } else {
            openai_json("t8-model", 10, 5, 100 * MS)
        }
    });
    let mut s = Scn::new(
        vec![Target::openai("gw", "gateway", &server.base_url)],
        1.0,
        0.5,
    );
    s.retry = "  max_retries: 1\n  max_retry_after_s: 5\n  budget_s: 5\n".into();
    let (o, dir) = run_scenario(tmp.path(), &s.write(tmp.path()), "reports");
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let rows = rows(&dir);
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!((r.outcome.as_str(), r.attempts), ("ok", 2), "{r:?}");
    assert_near(
        "latency_ms (last attempt)",
        r.latency_ms.unwrap(),
        100.0,
        0.5,
        LATE,
    );
    // 50 ms first attempt + 200 ms wait + 100 ms second attempt
    assert_near("e2e_ms", r.e2e_ms.unwrap(), 350.0, 0.5, 2.5 * LATE);
    assert!(r.from_scheduled_ms.unwrap() >= r.e2e_ms.unwrap());
}

#[test]
fn cost_adds_markup_and_fee_per_target_without_rounding_to_micro_dollars() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(|r| match openai_problem(r, "t8-model", false) {
        Some(why) => Reply::refuse(&why),
        None => openai_json("t8-model", 13, 7, 5 * MS),
    });
    let mut marked = Target::openai("marked", "gateway", &server.base_url);
    // 10% markup and a 0.0000123 USD (12,300 nano) fee per answered request
    marked.extra = "    pricing:\n      markup_pct: 10\n      per_request_usd: 0.0000123\n".into();
    let mut s = Scn::new(
        vec![Target::openai("plain", "legacy", &server.base_url), marked],
        2.0,
        0.75,
    );
    s.price = PRICE;
    let (o, dir) = run_scenario(tmp.path(), &s.write(tmp.path()), "reports");
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let rows = rows(&dir);
    let mut by: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
    for r in &rows {
        by.entry(r.target.clone()).or_default().push(r);
    }
    // 13 x 1,234 + 7 x 5,677 = 16,042 + 39,739 = 55,781 nano-USD; +10% = 5,578.1 -> 5,578; + 12,300 fee.
    let base = 13 * NANO.0 + 7 * NANO.1;
    assert_eq!(base, 55_781);
    for (target, want) in [("plain", base), ("marked", base + 5_578 + 12_300)] {
        let rs = &by[target];
        assert_eq!(rs.len(), 2, "{target}");
        for r in rs {
            assert_eq!(
                (r.input_tokens, r.output_tokens, r.tokens_estimated),
                (13, 7, false)
            );
            assert_eq!(r.cost_nano_usd, want, "{target}: {r:?}");
        }
    }
    // summary.csv's run cost of `plain` is the exact sum of its two rows.
    let summary = std::fs::read_to_string(dir.join("summary.csv")).unwrap();
    assert!(summary.contains("0.000111562"), "{summary}");
}
