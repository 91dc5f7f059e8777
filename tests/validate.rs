//! `cutover validate` agrees with `run` and prints the plan (issues 10 and 11), through the real binary.

use std::process::Command;

fn scenario(base_url: &str, limits: &str) -> String {
    // 864000 conversations a day = 10 per second for 30 s; turns 1 or 3 (half each) = 2 requests per conversation.
    format!(
        "name: v\ntargets:\n  - name: gw\n    role: gateway\n    protocol: openai\n    base_url: {base_url}\n    \
         api_key_env: CUTOVER_VALIDATE_UNSET_KEY\n\
         traffic:\n  conversations_per_day: 864000\n  duration_s: 30\n  turns: [{{turns: 1, weight: 0.5}}, {{turns: 3, weight: 0.5}}]\n  \
         stream_share: 0\n  models: [{{model: m1, weight: 1}}]\n  prompts: [hi]\n\
         limits:\n  max_duration_s: 60\n{limits}\
         prices:\n  currency: USD\n  models:\n    m1: {{input_per_mtok: 1, output_per_mtok: 2}}\n"
    )
}

fn validate(text: &str, extra: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.yaml"), text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .current_dir(dir.path())
        .arg("validate")
        .arg("s.yaml")
        .args(extra)
        .env_remove("CUTOVER_VALIDATE_UNSET_KEY")
        .output()
        .unwrap();
    assert!(
        !dir.path().join("reports").exists(),
        "validate writes nothing"
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn validate_prints_the_plan_and_warns_when_the_offered_rate_exceeds_max_rps() {
    let (code, out, err) = validate(&scenario("http://127.0.0.1:9", "  max_rps: 15\n"), &[]);
    assert_eq!(code, 0, "{out}{err}");
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("gw "))
        .expect(&out);
    // The plan: 10 conversations/s x 30 s = 300 conversations, 600 requests, 20 requests/s offered.
    for want in [
        "10.00 conversations/s",
        "~300 conversations",
        "~600 requests",
        "~20.0 requests/s",
    ] {
        assert!(line.contains(want), "`{want}` in {line}");
    }
    assert!(
        out.lines()
            .any(|l| l.starts_with("warning:") && l.contains("max_rps 15")),
        "{out}"
    );
    assert!(
        out.contains("CUTOVER_VALIDATE_UNSET_KEY is not set"),
        "{out}"
    );
    let (code, out, _) = validate(&scenario("http://127.0.0.1:9", "  max_rps: 25\n"), &[]);
    assert_eq!(code, 0);
    assert!(
        !out.contains("max_rps 25:"),
        "no rate warning under the cap: {out}"
    );
}

#[test]
fn validate_refuses_a_non_loopback_target_like_run_does() {
    let text = scenario("http://192.0.2.10:8080", "");
    let line = text.lines().position(|l| l.contains("base_url:")).unwrap() + 1;
    let (code, out, err) = validate(&text, &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains(&format!("s.yaml:{line}:")), "{err}");
    assert!(
        err.contains("targets[0].base_url") && err.contains("loopback"),
        "{err}"
    );
    let (code, out, err) = validate(&text, &["--allow-remote"]);
    assert_eq!(code, 0, "{out}{err}");
}
