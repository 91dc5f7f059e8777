use super::*;

fn base() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/coze-migration.yaml"
    ))
    .unwrap()
}

/// The 1-based number of the first line of `text` that contains `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .expect("the needle is in the text")
        + 1
}

fn load(text: &str) -> Result<(Scenario, PriceTable), ScenarioError> {
    Scenario::load_str(
        text,
        "s.yaml",
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios")),
    )
}

#[test]
fn bundled_scenario_loads() {
    let (s, p) = load(&base()).unwrap();
    assert_eq!(s.traffic.conversations_per_day, 50_000.0);
    assert_eq!(s.targets.len(), 2);
    assert!(p.resolve("gpt-4.1").is_ok());
}

#[test]
fn misspelled_field_names_line_and_suggests() {
    let text = base().replace("stream_share:", "stream_shar:");
    let err = load(&text).unwrap_err().to_string();
    let line = line_of(&text, "stream_shar:");
    assert!(err.starts_with(&format!("s.yaml:{line}:")), "{err}");
    assert!(
        err.contains("traffic: unknown field `stream_shar`"),
        "{err}"
    );
    assert!(err.contains("did you mean `stream_share`"), "{err}");
}

#[test]
fn semantic_errors_name_line_and_field() {
    let text = base().replace("stream_share: 0.3", "stream_share: 1.5");
    let err = load(&text).unwrap_err().to_string();
    let line = line_of(&text, "stream_share: 1.5");
    assert!(
        err.starts_with(&format!("s.yaml:{line}:3: traffic.stream_share:")),
        "{err}"
    );

    let text = base().replace("max_rps: ", "max_rps: -");
    let err = load(&text).unwrap_err().to_string();
    assert!(err.contains("limits.max_rps"), "{err}");
}

#[test]
fn weights_must_sum_to_one() {
    let text = base().replacen("weight: 0.", "weight: 0.9", 1);
    let err = load(&text).unwrap_err().to_string();
    assert!(err.contains("weights sum to"), "{err}");
}

#[test]
fn secrets_in_headers_are_refused() {
    let text = base().replace(
        "headers:",
        "headers:\n      Authorization: Bearer sk-x\n      x-dummy-h:",
    );
    let err = load(&text).unwrap_err().to_string();
    assert!(err.contains("api_key_env"), "{err}");
}

#[test]
fn unknown_threshold_target_is_named() {
    let text = base().replace("thresholds:", "thresholds:\n  - \"gatewy.p99_ms < 400\"");
    let err = load(&text).unwrap_err().to_string();
    assert!(
        err.contains("unknown target `gatewy`") && err.contains("did you mean `gateway`"),
        "{err}"
    );
}

#[test]
fn plan_too_large_for_the_window_is_refused_naming_duration() {
    // 57.9 conversations/s (50000 a day x 100) for 7 days = 35 million conversations: over the 10 million cap.
    let text = base().replace("  duration_s: 60", "  duration_s: 604800");
    let err = load(&text).unwrap_err().to_string();
    assert!(err.contains("traffic.duration_s"), "{err}");
    assert!(err.contains("requests per target"), "{err}");
}

#[test]
fn credential_headers_and_url_secrets_never_echo_the_secret() {
    for (needle, line) in [
        ("x-auth", "      x-auth: \"Bearer zzSECRETzz\""),
        ("x-custom", "      x-custom: \"basic zzSECRETzz\""),
    ] {
        let text = base().replacen(
            "      x-team: customer-service",
            &format!("      x-team: customer-service\n{line}"),
            1,
        );
        let err = load(&text).unwrap_err().to_string();
        assert!(err.contains(&format!("headers.{needle}")), "{err}");
        assert!(
            err.contains("api_key_env") && !err.contains("zzSECRETzz"),
            "{err}"
        );
    }
    assert!(super::validate::is_credential_header("Cookie", "a=b"));
    assert!(!super::validate::is_credential_header(
        "x-request-source",
        "cutover"
    ));
}

#[test]
fn timer_slack_defaults_to_50_us_and_is_bounded() {
    let (s, _) = load(&base()).unwrap();
    assert_eq!(s.traffic.timer_slack_us, 50);
    let set = |v: &str| {
        base().replace(
            "stream_share: 0.3",
            &format!("stream_share: 0.3\n  timer_slack_us: {v}"),
        )
    };
    let (s, _) = load(&set("1000")).unwrap();
    assert_eq!(s.traffic.timer_slack_us, 1000);
    let text = set("20000");
    let err = load(&text).unwrap_err().to_string();
    let line = line_of(&text, "timer_slack_us");
    assert!(
        err.starts_with(&format!("s.yaml:{line}:3: traffic.timer_slack_us:")),
        "{err}"
    );
    let err = load(&set("-1")).unwrap_err().to_string();
    assert!(err.contains("timer_slack_us"), "{err}");
}
