//! Accounting checked against the plan, not against the sink's own tally: the expected rows come from the
//! scenario (conversations x turns, plus one create call per Coze conversation) and from what the scripted server
//! saw (requests it received, creates it refused, requests it held when the run was interrupted).

mod support;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use support::*;

const MS: Duration = Duration::from_millis(1);

/// Rows per (conversation, turn): every planned request has exactly one row.
fn by_slot(rows: &[Row]) -> BTreeMap<(u64, u32), Vec<&Row>> {
    let mut m: BTreeMap<(u64, u32), Vec<&Row>> = BTreeMap::new();
    for r in rows {
        m.entry((r.conversation, r.turn)).or_default().push(r);
    }
    m
}

fn assert_one_row_per_planned_request(rows: &[Row], convs: u64, first_turn: u32, turns: u32) {
    let slots = by_slot(rows);
    for c in 0..convs {
        for t in first_turn..=turns {
            let n = slots.get(&(c, t)).map_or(0, Vec::len);
            assert_eq!(n, 1, "conversation {c} turn {t}: {n} rows");
        }
    }
    assert_eq!(
        rows.len() as u64,
        convs * (turns - first_turn + 1) as u64,
        "{rows:?}"
    );
}

fn coze_short_stream(conv: &str) -> Reply {
    let chat = json!({"id": "chat-1", "conversation_id": conv, "status": "completed",
                      "usage": {"token_count": 12, "output_count": 2, "input_count": 10}});
    let delta = json!({"id": "m1", "conversation_id": conv, "chat_id": "chat-1", "role": "assistant",
                       "type": "answer", "content": "fine", "content_type": "text"});
    Reply::sse(
        Duration::ZERO,
        vec![
            (
                5 * MS,
                coze_event("conversation.message.delta", delta.clone()),
            ),
            (10 * MS, coze_event("conversation.message.delta", delta)),
            (
                15 * MS,
                coze_event("conversation.chat.completed", chat) + "event:done\ndata:\"[DONE]\"\n\n",
            ),
        ],
    )
}

#[test]
fn a_failed_coze_create_leaves_a_not_sent_row_for_each_remaining_turn() {
    let tmp = tempfile::tempdir().unwrap();
    let creates = Arc::new(Mutex::new(0u32));
    let refused = Arc::new(Mutex::new(0u32));
    let (c2, r2) = (creates.clone(), refused.clone());
    let server = Server::start(move |r| {
        if !r.authorized() {
            return Reply::refuse("bad Authorization");
        }
        match (r.method.as_str(), r.path_only()) {
            ("POST", "/v1/conversation/create") if r.body["bot_id"] == json!("7350") => {
                let mut n = c2.lock().unwrap();
                *n += 1;
                if *n % 2 == 0 {
                    // every second create: HTTP 200 with a non-zero envelope code
                    *r2.lock().unwrap() += 1;
                    return Reply::json(200, json!({"code": 4000, "msg": "bot unavailable"}), MS);
                }
                Reply::json(200, coze_envelope(json!({"id": format!("conv-{n}")})), MS)
            }
            ("POST", "/v3/chat") if r.body["stream"] == json!(true) => {
                let conv = r.query("conversation_id").unwrap_or_default();
                if !conv.starts_with("conv-") {
                    return Reply::refuse("chat without a created conversation");
                }
                coze_short_stream(&conv)
            }
            _ => Reply::refuse(&format!("unexpected {} {} {}", r.method, r.path, r.body)),
        }
    });
    // Four conversations (0, 0.25, 0.5, 0.75 s) of three streamed turns: 4 creates + 12 chats planned.
    let mut s = Scn::new(
        vec![Target::coze("legacy", &server.base_url, "7350")],
        4.0,
        0.875,
    );
    s.stream_share = 1.0;
    s.turns = 3;
    let (o, dir) = run_scenario(tmp.path(), &s.write(tmp.path()), "reports");
    assert!(o.code == 0, "{}{}", o.stdout, o.stderr);
    let rows = rows(&dir);
    assert_one_row_per_planned_request(&rows, 4, 0, 3);
    let refused = *refused.lock().unwrap() as usize;
    assert_eq!((*creates.lock().unwrap(), refused), (4, 2));
    let slots = by_slot(&rows);
    let mut failed_convs = 0;
    for c in 0..4u64 {
        let create = slots[&(c, 0)][0];
        assert_eq!(create.op, "create_conversation");
        if create.outcome == "error" {
            failed_convs += 1;
            assert_eq!(create.error_kind, "envelope_4000", "{create:?}");
            for t in 1..=3 {
                let r = slots[&(c, t)][0];
                assert_eq!(
                    (r.outcome.as_str(), r.not_sent_reason.as_str()),
                    ("not_sent", "conversation_create_failed"),
                    "{r:?}"
                );
            }
        } else {
            assert_eq!(create.outcome, "ok");
            assert!((1..=3).all(|t| slots[&(c, t)][0].outcome == "ok"));
        }
    }
    assert_eq!(failed_convs, refused);
    // The server saw 4 creates and 3 chats per created conversation.
    assert_eq!(server.count(), 4 + 3 * (4 - refused));
    // run.json against the plan: 16 scheduled, 2 + 6 ok, 2 errors, 6 not sent.
    assert_eq!(accounting(&dir, "legacy"), (16, 8, 2, 0, 6));
}

#[test]
fn max_in_flight_refusals_are_rows_not_gaps() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(|r| match openai_problem(r, "t8-model", false) {
        Some(why) => Reply::refuse(&why),
        None => openai_json("t8-model", 10, 5, 400 * MS),
    });
    // Arrivals at 0, 100, 200, 300 ms; one request in flight at a time, each answered after 400 ms.
    let mut s = Scn::new(
        vec![Target::openai("gw", "gateway", &server.base_url)],
        10.0,
        0.35,
    );
    s.limits = "  max_in_flight: 1\n".into();
    let (o, dir) = run_scenario(tmp.path(), &s.write(tmp.path()), "reports");
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let rows = rows(&dir);
    assert_one_row_per_planned_request(&rows, 4, 1, 1);
    assert_eq!(server.count(), 1);
    let refused: Vec<&Row> = rows.iter().filter(|r| r.outcome == "not_sent").collect();
    assert_eq!(refused.len(), 3, "{rows:?}");
    assert!(refused.iter().all(|r| r.not_sent_reason == "max_in_flight"));
    assert_eq!(accounting(&dir, "gw"), (4, 1, 0, 0, 3));
}

#[test]
fn multi_turn_openai_plan_is_fully_accounted() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(|r| match openai_problem(r, "t8-model", false) {
        Some(why) => Reply::refuse(&why),
        // turn k of a conversation carries 2k - 1 messages (history of the earlier turns + the new one)
        None if r.body["messages"].as_array().map_or(0, Vec::len) % 2 == 1 => {
            openai_json("t8-model", 10, 5, 10 * MS)
        }
        None => Reply::refuse("history has an even number of messages"),
    });
    let mut s = Scn::new(
        vec![Target::openai("gw", "gateway", &server.base_url)],
        5.0,
        0.5,
    );
    s.turns = 3;
    s.think_s = 0.05;
    let (o, dir) = run_scenario(tmp.path(), &s.write(tmp.path()), "reports");
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let rows = rows(&dir);
    assert_one_row_per_planned_request(&rows, 3, 1, 3);
    assert!(rows.iter().all(|r| r.outcome == "ok"), "{rows:?}");
    assert_eq!(server.count(), 9);
    let mut lens: Vec<usize> = server
        .requests()
        .iter()
        .map(|r| r.body["messages"].as_array().unwrap().len())
        .collect();
    lens.sort();
    assert_eq!(lens, [1, 1, 1, 3, 3, 3, 5, 5, 5]);
    assert_eq!(accounting(&dir, "gw"), (9, 9, 0, 0, 0));
}

#[test]
fn sigint_cancels_what_is_in_flight_and_marks_the_rest_not_sent() {
    let tmp = tempfile::tempdir().unwrap();
    // Every request is held far beyond the grace period.
    let server = Server::start(|r| match openai_problem(r, "t8-model", false) {
        Some(why) => Reply::refuse(&why),
        None => Reply::hold(Duration::from_secs(20)),
    });
    // Twelve conversations (every 250 ms over 3 s) of two turns: 24 planned requests.
    let mut s = Scn::new(
        vec![Target::openai("gw", "gateway", &server.base_url)],
        4.0,
        2.9,
    );
    s.turns = 2;
    s.grace_s = 0.5;
    let sc = s.write(tmp.path());
    let out_root = tmp.path().join("reports");
    let mut child = Command::new(BIN)
        .args([
            "run",
            "--quiet",
            "--out",
            out_root.to_str().unwrap(),
            sc.to_str().unwrap(),
        ])
        .env(KEY_ENV, KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while server.count() < 3 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "server saw {} requests",
            server.count()
        );
        std::thread::sleep(10 * MS);
    }
    let st = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        if t0.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("run did not stop after SIGINT");
        }
        std::thread::sleep(20 * MS);
    };
    assert_eq!(code, Some(4), "interrupted runs exit 4");
    let dir = only_dir(&out_root).unwrap();
    let rows = rows(&dir);
    assert_one_row_per_planned_request(&rows, 12, 1, 2);
    let held = server.count();
    assert!((3..12).contains(&held), "{held}");
    let cancelled = rows.iter().filter(|r| r.outcome == "cancelled").count();
    let not_sent: Vec<&Row> = rows.iter().filter(|r| r.outcome == "not_sent").collect();
    // every request the server received was in flight when the grace period ran out
    assert_eq!(cancelled, held, "{rows:?}");
    assert_eq!(not_sent.len(), 24 - held);
    assert!(
        not_sent.iter().all(|r| r.not_sent_reason == "interrupted"),
        "{not_sent:?}"
    );
    // each second turn waits on its first, so none was sent
    assert!(rows
        .iter()
        .filter(|r| r.turn == 2)
        .all(|r| r.outcome == "not_sent"));
    assert_eq!(
        accounting(&dir, "gw"),
        (24, 0, 0, held as u64, 24 - held as u64)
    );
}

#[test]
fn the_spend_cap_is_never_crossed() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(|r| match openai_problem(r, "t8-model", false) {
        Some(why) => Reply::refuse(&why),
        None => openai_json("t8-model", 13, 7, 20 * MS),
    });
    // Arrivals 200 ms apart, answered in 20 ms: strictly one after the other. Each costs
    // 13 x 1,234 + 7 x 5,677 = 55,781 nano-USD; the cap (100,000) fits one request, not two.
    let mut s = Scn::new(
        vec![Target::openai("gw", "gateway", &server.base_url)],
        5.0,
        0.7,
    );
    s.price = (1.234, 5.677);
    s.max_tokens = Some(7);
    s.limits = "  max_spend_usd: 0.0001\n".into();
    let (o, dir) = run_scenario(tmp.path(), &s.write(tmp.path()), "reports");
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let rows = rows(&dir);
    assert_one_row_per_planned_request(&rows, 4, 1, 1);
    let spent: u64 = rows.iter().map(|r| r.cost_nano_usd).sum();
    assert!(
        spent <= 100_000,
        "spent {spent} nano-USD through a 100,000 cap"
    );
    assert_eq!(server.count(), 1);
    let capped = rows
        .iter()
        .filter(|r| r.not_sent_reason == "max_spend")
        .count();
    assert_eq!(capped, 3);
}
