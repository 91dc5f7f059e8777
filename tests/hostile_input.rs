//! Hostile input (issue 11 items 4, 5, 7, 13, 14, 18, 19, 22): absurd numbers, runaway rates, credentials, odd names
//! and target address forms in the scenario. Each must be refused by `validate` and by `run` with exit 2 naming file:line:field, before anything is
//! sent or written; a property test feeds random numeric values through `validate` and, when accepted, a short run.
//! Black-box like `tests/hostile.rs`: the real binary, loopback servers, files and exit codes only.

mod hostile_support;

use std::time::Duration;

use hostile_support::*;

const T: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------------------------
// Item 4: runaway runs

#[test]
fn runaway_rates_are_refused_by_validate_and_run() {
    let srv = ok_server();
    let dir = tmp();
    let base = Scenario::openai(&srv.base_url()).yaml();
    let mut problems = Vec::new();
    for v in ["1e12", ".inf", ".nan"] {
        let text = set_line(
            &base,
            "  conversations_per_day:",
            &format!("  conversations_per_day: {v}"),
        );
        let line = line_of(&text, "conversations_per_day:");
        if let Some(p) = refused(dir.path(), &text, line, "traffic.conversations_per_day") {
            problems.push(format!("conversations_per_day {v}: {p}"));
        }
    }
    // A rate that overflows to infinity: each factor finite, the product not.
    let text = set_line(
        &base,
        "  conversations_per_day:",
        "  conversations_per_day: 1e300\n  time_scale: 1e300",
    );
    let line = line_of(&text, "conversations_per_day:");
    let p1 = refused(dir.path(), &text, line, "traffic.conversations_per_day");
    let p2 = refused(dir.path(), &text, line + 1, "traffic.time_scale");
    if let (Some(a), Some(b)) = (p1, p2) {
        problems.push(format!("rate 1e300 x 1e300: {a} / {b}"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(srv.count(), 0);
}

#[test]
fn duration_flag_beyond_range_is_refused() {
    let srv = ok_server();
    let dir = tmp();
    let s = Scenario {
        max_duration_s: 5.0,
        ..Scenario::openai(&srv.base_url())
    };
    let f = s.write(dir.path());
    for d in ["1e9", "1e300"] {
        let out = cutover(
            dir.path(),
            &["run", "--quiet", "--duration", d, f],
            Duration::from_secs(30),
        );
        assert_eq!(out.code, Some(2), "--duration {d}: {}", out.all());
        assert!(out.stderr.contains("--duration"), "{}", out.stderr);
        assert!(run_dir(dir.path()).is_none());
    }
    assert_eq!(srv.count(), 0);
}

#[test]
fn max_duration_s_ends_a_long_run() {
    let srv = ok_server();
    let dir = tmp();
    let s = Scenario {
        rate: 2.0,
        duration_s: 500.0,
        max_duration_s: 2.0,
        grace_s: 1.0,
        ..Scenario::openai(&srv.base_url())
    };
    let f = s.write(dir.path());
    let out = cutover(dir.path(), &["run", "--quiet", f], Duration::from_secs(30));
    assert_eq!(out.code, Some(4), "{}", out.all());
    assert!(out.elapsed < Duration::from_secs(15), "{:?}", out.elapsed);
    let run = run_dir(dir.path()).expect("run dir");
    assert!(run_json(&run)["stopped"]
        .as_str()
        .unwrap_or("")
        .contains("max_duration_s"));
    assert_accounting(&run);
}

#[test]
fn first_sigint_ends_a_long_run() {
    let srv = ok_server();
    let dir = tmp();
    let s = Scenario {
        rate: 5.0,
        duration_s: 500.0,
        max_duration_s: 600.0,
        grace_s: 2.0,
        ..Scenario::openai(&srv.base_url())
    };
    let f = s.write(dir.path());
    let child = start(dir.path(), &["run", "--quiet", f]);
    assert!(wait_until(Duration::from_secs(20), || srv.count() >= 5));
    child.signal("INT");
    let out = child.wait(Duration::from_secs(30));
    assert_eq!(out.code, Some(4), "{}", out.all());
    let run = run_dir(dir.path()).expect("run dir");
    assert_accounting(&run);
}

// ---------------------------------------------------------------------------------------------------------------
// Item 5 (and 19): values that pass validate and crash run

/// (field named in the error, line prefix to replace or None to append under the section, the new line)
const ABSURD: &[(&str, &str, &str)] = &[
    (
        "limits.request_timeout_s",
        "  request_timeout_s:",
        "  request_timeout_s: 1e20",
    ),
    (
        "limits.max_duration_s",
        "  max_duration_s:",
        "  max_duration_s: 1e20",
    ),
    ("limits.grace_s", "  grace_s:", "  grace_s: .inf"),
    ("limits.grace_s", "  grace_s:", "  grace_s: .nan"),
    (
        "limits.max_rps",
        "  grace_s:",
        "  grace_s: 2\n  max_rps: 1e-300",
    ),
    (
        "limits.max_in_flight",
        "  grace_s:",
        "  grace_s: 2\n  max_in_flight: 18446744073709551615",
    ),
    (
        "retry.budget_s",
        "  initial_backoff_ms:",
        "  initial_backoff_ms: 20\n  budget_s: .nan",
    ),
    (
        "retry.max_retry_after_s",
        "  initial_backoff_ms:",
        "  initial_backoff_ms: 20\n  max_retry_after_s: .inf",
    ),
    (
        "retry.max_backoff_ms",
        "  max_backoff_ms:",
        "  max_backoff_ms: 1000000000000000",
    ),
    (
        "traffic.think_time_s",
        "  prompts:",
        "  prompts: [\"hello there\"]\n  think_time_s: 1e300",
    ),
    (
        "traffic.turns[0].turns",
        "  turns:",
        "  turns: [{turns: 4000000000, weight: 1.0}]",
    ),
    (
        "targets[0].pricing.markup_pct",
        "    api_key_env:",
        "    api_key_env: CUTOVER_HOSTILE_KEY\n    pricing: {markup_pct: .nan}",
    ),
    (
        "targets[0].pricing.per_request_usd",
        "    api_key_env:",
        "    api_key_env: CUTOVER_HOSTILE_KEY\n    pricing: {per_request_usd: .inf}",
    ),
];

#[test]
fn absurd_numeric_fields_are_refused_by_validate_and_run() {
    let srv = ok_server();
    let dir = tmp();
    let base = Scenario::openai(&srv.base_url()).yaml();
    let mut problems = Vec::new();
    for (field, prefix, line) in ABSURD {
        let text = set_line(&base, prefix, line);
        let last = line.lines().last().unwrap();
        let n = line_of(&text, last.trim());
        if let Some(p) = refused(dir.path(), &text, n, field) {
            problems.push(format!("{}: {p}", last.trim()));
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} refused wrongly:\n{}",
        problems.len(),
        ABSURD.len(),
        problems.join("\n")
    );
}

#[test]
fn validate_refuses_a_missing_mock_file() {
    let dir = tmp();
    let text = set_line(
        &Scenario::openai("http://127.0.0.1:9").yaml(),
        "    base_url:",
        "    mock: mocks/does-not-exist.yaml",
    );
    let n = line_of(&text, "mock: mocks/does-not-exist.yaml");
    if let Some(p) = refused(dir.path(), &text, n, "targets[0].mock") {
        panic!("{p}");
    }
}

mod property {
    use super::*;
    use proptest::prelude::*;

    fn float_value() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => (0.001f64..5.0).prop_map(|v| format!("{v:.3}")),
            1 => prop::sample::select(vec![
                ".nan", ".inf", "-.inf", "-1", "0", "1e-300", "1e300", "1e20", "18446744073709551615", "4000000000",
            ])
            .prop_map(str::to_string),
        ]
    }

    fn int_value() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => (1u64..4).prop_map(|v| v.to_string()),
            1 => prop::sample::select(vec!["0", "-1", "4000000000", "18446744073709551615", "1e9", ".nan", "0.5"])
                .prop_map(str::to_string),
        ]
    }

    /// (section, key, float?) of every numeric field the property varies.
    const FIELDS: &[(&str, &str, bool)] = &[
        ("traffic", "conversations_per_day", true),
        ("traffic", "time_scale", true),
        ("traffic", "think_time_s", true),
        ("limits", "request_timeout_s", true),
        ("limits", "max_duration_s", true),
        ("limits", "grace_s", true),
        ("limits", "max_rps", true),
        ("limits", "max_in_flight", false),
        ("limits", "max_requests", false),
        ("retry", "budget_s", true),
        ("retry", "max_retry_after_s", true),
        ("retry", "max_retries", false),
        ("pricing", "markup_pct", true),
        ("pricing", "per_request_usd", true),
        ("turns", "turns", false),
    ];

    fn values() -> impl Strategy<Value = Vec<Option<String>>> {
        FIELDS
            .iter()
            .map(|(_, _, float)| {
                let v = if *float {
                    float_value().boxed()
                } else {
                    int_value().boxed()
                };
                prop::option::weighted(0.35, v)
            })
            .collect::<Vec<_>>()
    }

    fn scenario(base_url: &str, vals: &[Option<String>]) -> String {
        let mut s = Scenario {
            max_duration_s: 8.0,
            rate: 4.0,
            ..Scenario::openai(base_url)
        };
        let mut text_subs: Vec<(String, String)> = Vec::new();
        let mut pricing = Vec::new();
        for ((section, key, _), v) in FIELDS.iter().zip(vals) {
            let Some(v) = v else { continue };
            match (*section, *key) {
                ("limits", "request_timeout_s" | "max_duration_s" | "grace_s")
                | ("traffic", "conversations_per_day") => {
                    text_subs.push((format!("  {key}:"), format!("  {key}: {v}")));
                }
                ("limits", _) => s.limits.push_str(&format!("  {key}: {v}\n")),
                ("retry", "max_retries") => {
                    text_subs.push(("  max_retries:".into(), format!("  max_retries: {v}")))
                }
                ("retry", _) => s.retry.push_str(&format!("  {key}: {v}\n")),
                ("traffic", _) => s.traffic.push_str(&format!("  {key}: {v}\n")),
                ("pricing", _) => pricing.push(format!("{key}: {v}")),
                ("turns", _) => text_subs.push((
                    "  turns:".into(),
                    format!("  turns: [{{turns: {v}, weight: 1.0}}]"),
                )),
                _ => unreachable!(),
            }
        }
        if !pricing.is_empty() {
            s.target
                .push_str(&format!("    pricing: {{{}}}\n", pricing.join(", ")));
        }
        let mut text = s.yaml();
        for (prefix, line) in text_subs {
            text = set_line(&text, &prefix, &line);
        }
        text
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 16,
            max_shrink_iters: 8,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// Random numeric values: `validate` refuses them (exit 2, file:line), or a short run completes (exit 0, 1
        /// or 4, run.json and report.md written, accounting identity) and never crashes.
        #[test]
                fn numeric_fields_are_refused_or_run_to_completion(vals in values()) {
            let srv = ok_server();
            let dir = tmp();
            let text = scenario(&srv.base_url(), &vals);
            std::fs::write(dir.path().join("scenario.yaml"), &text).unwrap();
            let v = cutover(dir.path(), &["validate", "scenario.yaml"], Duration::from_secs(20));
            prop_assert!(v.did_not_crash(), "validate crashed: {}\n{text}", v.all());
            prop_assert!(v.code == Some(0) || v.code == Some(2), "validate: {}\n{text}", v.all());
            if v.code == Some(2) {
                prop_assert!(v.stderr.contains("scenario.yaml:"), "names the file: {}", v.stderr);
                return Ok(());
            }
            let out = cutover(dir.path(), &["run", "--quiet", "--duration", "0.5", "scenario.yaml"], Duration::from_secs(45));
            prop_assert!(out.did_not_crash(), "run crashed: {}\n{text}", out.all());
            prop_assert!(matches!(out.code, Some(0 | 1 | 4)), "validate passed but run: {}\n{text}", out.all());
            let run = run_dir(dir.path());
            prop_assert!(run.is_some(), "no run dir\n{text}");
            let run = run.unwrap();
            prop_assert!(run.join("run.json").exists() && run.join("report.md").exists(), "{text}");
            assert_accounting(&run);
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Item 7: credentials in the scenario

#[test]
fn credentials_in_the_scenario_are_refused() {
    let srv = ok_server();
    let dir = tmp();
    let secret = "S3cr3tValue42abcXYZ";
    let base = Scenario::openai(&srv.base_url()).yaml();
    let mut problems = Vec::new();
    for name in [
        "proxy-authorization",
        "cookie",
        "x-api-secret",
        "apikey",
        "x-auth",
        "ocp-apim-subscription-key",
    ] {
        let value = match name {
            "x-auth" => format!("Bearer {secret}"),
            "cookie" => format!("session={secret}"),
            "proxy-authorization" => format!("Basic {secret}"),
            _ => secret.to_string(),
        };
        let text = set_line(
            &base,
            "    api_key_env:",
            &format!("    api_key_env: {KEY_VAR}\n    headers:\n      {name}: \"{value}\""),
        );
        let n = line_of(&text, &format!("{name}:"));
        if let Some(p) = refused(dir.path(), &text, n, &format!("targets[0].headers.{name}")) {
            problems.push(format!("header {name}: {p}"));
        }
    }
    let port = srv.port();
    for url in [
        format!("http://admin:{secret}@127.0.0.1:{port}"),
        format!("http://127.0.0.1:{port}/?api_key={secret}"),
    ] {
        let text = set_line(&base, "    base_url:", &format!("    base_url: {url}"));
        let n = line_of(&text, "base_url:");
        if let Some(p) = refused(dir.path(), &text, n, "targets[0].base_url") {
            problems.push(format!("{url}: {p}"));
        }
    }
    let leaks = find_secret(&all_files(dir.path()), secret, 8)
        .into_iter()
        .filter(|h| !h.contains("scenario.yaml"))
        .collect::<Vec<_>>();
    assert!(
        problems.is_empty() && leaks.is_empty(),
        "{}\nleaks:\n{}",
        problems.join("\n"),
        leaks.join("\n")
    );
    assert_eq!(srv.count(), 0, "nothing is sent for a refused scenario");
}

// ---------------------------------------------------------------------------------------------------------------
// Item 18: the scenario name

#[test]
fn scenario_name_with_control_characters_or_1000_chars_is_refused() {
    let dir = tmp();
    let base = Scenario::openai("http://127.0.0.1:9").yaml();
    let mut problems = Vec::new();
    for name in [
        "n".repeat(1000),
        "\"bad\\0name\"".to_string(),
        "\"bad\\u0007name\"".to_string(),
        "\"bad\\x1bname\"".to_string(),
        "\"bad\\nname\"".to_string(),
        "\"bad\\tname\"".to_string(),
    ] {
        let text = set_line(&base, "name:", &format!("name: {name}"));
        if let Some(p) = refused(dir.path(), &text, 1, "name") {
            problems.push(format!("{}: {p}", clip(&name, 20)));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
// ---------------------------------------------------------------------------------------------------------------
// Items 13, 14 and 22: target addresses

#[test]
fn ipv6_loopback_literal_works() {
    let srv =
        Server::start_on("[::1]:0", |_, _| Reply::Raw(openai_ok("hello", 5, 2))).expect("bind ::1");
    let dir = tmp();
    let f = Scenario::openai(&srv.base_url()).write(dir.path());
    let out = cutover(dir.path(), &["run", "--quiet", f], T);
    assert_eq!(out.code, Some(0), "{}", out.all());
    let run = run_dir(dir.path()).expect("run dir");
    assert!(chat_rows(&run).iter().all(|r| col(r, "outcome") == "ok"));
    assert_eq!(srv.count(), 4);
}

#[test]
fn localhost_is_resolved_and_must_be_loopback() {
    // In a private mount namespace /etc/hosts maps `localhost` to this machine's non-loopback address, where a
    // server listens: a tool that trusts the name sends load there.
    let Some(ip) = own_non_loopback_ip() else {
        eprintln!("SKIPPED: no non-loopback address on this machine");
        return;
    };
    if !std::process::Command::new("unshare")
        .args(["-m", "true"])
        .status()
        .is_ok_and(|s| s.success())
    {
        eprintln!("SKIPPED: needs `unshare -m` (root) for a private /etc/hosts");
        return;
    }
    let srv = Server::start_on(&format!("{ip}:0"), |_, _| {
        Reply::Raw(openai_ok("hello", 5, 2))
    })
    .unwrap();
    let dir = tmp();
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, format!("{ip} localhost\n")).unwrap();
    let f = Scenario::openai(&format!("http://localhost:{}", srv.port())).write(dir.path());
    let script = format!(
        "mount --bind {} /etc/hosts && exec \"$0\" \"$@\"",
        hosts.display()
    );
    let out = start_program(
        dir.path(),
        "unshare",
        &["-m", "bash", "-c", &script, BIN, "run", "--quiet", f],
        &[],
    )
    .wait(T);
    assert_eq!(out.code, Some(2), "{}", out.all());
    assert!(out.stderr.contains("loopback"), "{}", out.stderr);
    assert_eq!(srv.count(), 0, "load was sent off loopback");
}

#[test]
fn localhost_resolving_to_loopback_works() {
    let srv = ok_server();
    let dir = tmp();
    let f = Scenario::openai(&format!("http://localhost:{}", srv.port())).write(dir.path());
    let out = cutover(dir.path(), &["run", "--quiet", f], T);
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert_eq!(srv.count(), 4);
}

#[test]
fn base_url_with_a_query_string_keeps_it_after_the_path() {
    let srv = ok_server();
    let dir = tmp();
    let s = Scenario::openai(&format!("{}/openai?api-version=2024-02-01", srv.base_url()));
    let f = s.write(dir.path());
    let out = cutover(dir.path(), &["run", "--quiet", f], T);
    assert_eq!(out.code, Some(0), "{}", out.all());
    let targets: Vec<String> = srv.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(targets.len(), 4);
    assert!(
        targets
            .iter()
            .all(|t| t == "/openai/v1/chat/completions?api-version=2024-02-01"),
        "{targets:?}"
    );
}
