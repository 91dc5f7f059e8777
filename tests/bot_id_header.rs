//! The seed's Coze-shaped gateway takes the bot id in a header (`coze: {bot_id_header: X-Bot-Id}` in the bundled
//! mocks/gateway-coze.yaml). The mock honours it: a chat naming its bot only in the header is answered, one naming it
//! only in the body is refused; and compat, told by the scenario target's `coze.bot_id_header`, sends it, so the
//! bundled compat scenario still lists only the shape variants, while without it every probe that names a bot is
//! refused and compat says so.

use std::path::Path;

use cutover::mock::MockProfile;
use serde_json::{json, Value};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[tokio::test]
async fn the_gateway_reads_the_bot_from_its_header() {
    let p = MockProfile::from_yaml_file(Path::new(ROOT).join("mocks/gateway-coze.yaml")).unwrap();
    let header = p
        .coze
        .as_ref()
        .and_then(|c| c.bot_id_header.clone())
        .unwrap();
    let bearer = format!("Bearer {}", p.bearer().unwrap());
    let bot = p.bots.keys().next().unwrap().clone();
    let m = cutover::mock::serve(p, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let chat = |body: Value, bot_header: Option<&str>| {
        let mut rb = client
            .post(format!("{}/v3/chat", m.base_url()))
            .header("authorization", &bearer)
            .json(&body);
        if let Some(b) = bot_header {
            rb = rb.header(header.as_str(), b);
        }
        async move {
            let r = rb.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    let q = json!([{"role": "user", "type": "question", "content": "hi", "content_type": "text"}]);
    // Bot in the header only: answered (a chat accepted in progress, code 0).
    let (s, v) = chat(
        json!({"user_id": "u", "additional_messages": q}),
        Some(&bot),
    )
    .await;
    assert_eq!((s, &v["code"]), (200, &json!(0)), "{v}");
    assert_eq!(v["data"]["bot_id"], bot.as_str(), "{v}");
    // Bot in the body only, as the legacy API takes it: refused, the header is required.
    let (_, v) = chat(
        json!({"bot_id": bot, "user_id": "u", "additional_messages": q}),
        None,
    )
    .await;
    assert_ne!(v["code"], json!(0), "{v}");
    assert!(v["msg"].as_str().unwrap().contains(&header), "{v}");
    // The header wins over the body: an unknown bot in the header is not found, whatever the body says.
    let body = json!({"bot_id": bot, "user_id": "u", "additional_messages": q});
    let (_, v) = chat(body, Some("0000000000000000000")).await;
    assert_ne!(v["code"], json!(0), "{v}");
    assert!(
        v["msg"].as_str().unwrap().contains("0000000000000000000"),
        "{v}"
    );
}

#[tokio::test]
async fn compat_without_the_header_setting_shows_the_refusals() {
    let text =
        std::fs::read_to_string(format!("{ROOT}/scenarios/coze-gateway-compat.yaml")).unwrap();
    let line = "      bot_id_header: X-Bot-Id";
    assert!(text.contains(line));
    let with = |t: &str| {
        t.replace("mock: ../mocks/", &format!("mock: {ROOT}/mocks/"))
            .replace("prices: ../prices/", &format!("prices: {ROOT}/prices/"))
    };
    let tmp = tempfile::tempdir().unwrap();
    let (yes, no) = (tmp.path().join("yes.yaml"), tmp.path().join("no.yaml"));
    std::fs::write(&yes, with(&text)).unwrap();
    let without: String = text
        .lines()
        .filter(|l| !l.starts_with(line))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&no, with(&without)).unwrap();
    let (md_yes, _) = cutover::commands::compat(&yes, "legacy", "gateway", false)
        .await
        .unwrap();
    let (md_no, differs) = cutover::commands::compat(&no, "legacy", "gateway", false)
        .await
        .unwrap();
    assert!(differs);
    let count = |md: &str| md.lines().filter(|l| l.starts_with("- ")).count();
    assert!(
        count(&md_no) > count(&md_yes),
        "with:\n{md_yes}\nwithout:\n{md_no}"
    );
    // A chat without the header is a 400 (a bad request: the bot id is missing), where the legacy answers.
    assert!(
        md_no.contains("- status: legacy 200 vs gateway 400"),
        "{md_no}"
    );
    assert!(!md_yes.contains("vs gateway 400"), "{md_yes}");
}
