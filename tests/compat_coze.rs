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
