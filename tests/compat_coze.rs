//! `cutover compat` on the main use case: the legacy Coze API against a gateway that serves a Coze-shaped API
//! (the bundled scenarios/coze-gateway-compat.yaml, both embedded mocks). The differences it lists must be exactly
//! the gateway profile's configured `shape_variants`, no more, no fewer.

use std::path::Path;

use cutover::mock::{MockProfile, ShapeVariant};

/// The line `compat` prints for a variant (the plan's side: derived from the profile, not from compat's output).
fn expected_line(v: &ShapeVariant, legacy_type: &str) -> String {
    match v {
        ShapeVariant::MissingField { field } => {
            format!("field `{field}` ({legacy_type}): only in legacy")
        }
        ShapeVariant::ChangedType { field } => {
            let other = if legacy_type == "number" { "string" } else { "number" };
            format!("field `{field}`: legacy {legacy_type} vs gateway {other}")
        }
        ShapeVariant::NotFoundStatus { status } => format!("status: legacy 200 vs gateway {status}"),
        ShapeVariant::SseOrder => "SSE events: legacy [conversation.chat.created, conversation.chat.in_progress, \
             conversation.message.delta*, conversation.message.completed*, conversation.chat.completed, \
             done([DONE])] vs gateway [conversation.chat.in_progress, conversation.chat.created, \
             conversation.message.delta*, conversation.message.completed*, conversation.chat.completed, \
             done([DONE])]"
            .to_string(),
    }
}

#[tokio::test]
async fn compat_lists_exactly_the_configured_shape_variants() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let gw = MockProfile::from_yaml_file(root.join("mocks/gateway-coze.yaml")).unwrap();
    assert!(
        gw.shape_variants.len() >= 4,
        "one variant of each kind is bundled"
    );
    // The legacy API's types of the fields the variants name (from the Coze API: ids are strings, times numbers).
    let legacy_type = |field: &str| {
        if field.ends_with("_at") {
            "number"
        } else {
            "string"
        }
    };
    let mut want: Vec<String> = gw
        .shape_variants
        .iter()
        .map(|v| match v {
            ShapeVariant::MissingField { field } | ShapeVariant::ChangedType { field } => {
                expected_line(v, legacy_type(field))
            }
            _ => expected_line(v, ""),
        })
        .collect();
    want.sort();
    let (md, differs) = cutover::commands::compat(
        &root.join("scenarios/coze-gateway-compat.yaml"),
        "legacy",
        "gateway",
        false,
    )
    .await
    .unwrap();
    assert!(differs);
    let mut got: Vec<String> = md
        .lines()
        .filter_map(|l| l.strip_prefix("- "))
        .map(str::to_string)
        .collect();
    got.sort();
    assert_eq!(got, want, "{md}");
    assert!(md.contains(&format!("{} differences", want.len())), "{md}");
}

/// Model-name forms: each side resolves the names its catalogue has and 404s the others; compat shows which.
#[tokio::test]
async fn compat_shows_which_model_name_forms_resolve() {
    use cutover::client::Endpoint;
    use cutover::config::scenario::ProtocolKind;
    let profile = |models: &str| {
        MockProfile::from_yaml_str(
            &format!("name: m\nseed: 1\nprotocol: openai\nmodels: {models}\nerrors: {{rate: 0}}\nlatency: {{mean_ms: 2, p99_ms: 4}}\nstream: {{ttft: {{mean_ms: 2, p99_ms: 4}}, inter_token_ms: {{mean_ms: 1, p99_ms: 2}}}}\n"),
            "m.yaml",
        )
        .unwrap()
    };
    let addr = "127.0.0.1:0".parse().unwrap();
    // Legacy knows the dated alias; the gateway knows the provider-prefixed name. Neither knows capitals.
    let legacy = cutover::mock::serve(profile("[gpt-4.1, gpt-4.1-2025-04-14]"), addr)
        .await
        .unwrap();
    let gateway = cutover::mock::serve(profile("[gpt-4.1, openai/gpt-4.1]"), addr)
        .await
        .unwrap();
    let ep = |url: String| {
        Endpoint::new(
            ProtocolKind::Openai,
            &url,
            None,
            &Default::default(),
            None,
            None,
        )
        .unwrap()
    };
    let client = cutover::client::http::http_client(std::time::Duration::from_secs(5));
    let (_, md) = cutover::compat::check(
        &client,
        &ep(legacy.base_url()),
        &ep(gateway.base_url()),
        "gpt-4.1",
        "",
    )
    .await
    .unwrap();
    for line in [
        "## model name as configured: same shape (legacy 200, gateway 200)",
        "## model name with provider prefix: DIFFERENT (legacy 404, gateway 200)",
        "## model name in capitals: same shape (legacy 404, gateway 404)",
        "## model name, dated alias: DIFFERENT (legacy 200, gateway 404)",
    ] {
        assert!(md.contains(line), "{line}\n{md}");
    }
}
