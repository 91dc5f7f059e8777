//! JSON Schema of a mock profile (`cutover schema mock`), generated from the serde types of `profile.rs`; shipped
//! as `schemas/mock.schema.json`.

use std::borrow::Cow;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};

use super::profile::{MockProfile, RetryAfter};

/// The schema of a mock profile, as pretty JSON with a trailing newline (the bytes of the shipped file).
pub fn mock_schema() -> String {
    let mut schema = crate::config::schema::generator().into_root_schema_for::<MockProfile>();
    schema.insert(
        "$id".into(),
        "https://cutover.dev/schemas/mock.schema.json".into(),
    );
    schema.insert("title".into(), "cutover mock profile".into());
    crate::config::schema::to_text(&schema)
}

/// `RetryAfter` is read through a hand-written representation (serde_yaml reads enums only from tags): `none`,
/// `{seconds: N}` or `{http_date_in_s: N}`.
impl JsonSchema for RetryAfter {
    fn schema_name() -> Cow<'static, str> {
        "RetryAfter".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "What a 429 says about when to come back: `none` (no retry-after header), \
                `{seconds: N}` (fractional allowed) or `{http_date_in_s: N}` (an HTTP date N whole seconds ahead).",
            "oneOf": [
                { "type": "string", "enum": ["none"] },
                {
                    "type": "object",
                    "properties": { "seconds": { "type": "number", "minimum": 0 } },
                    "required": ["seconds"],
                    "additionalProperties": false
                },
                {
                    "type": "object",
                    "properties": { "http_date_in_s": { "type": "integer", "minimum": 0 } },
                    "required": ["http_date_in_s"],
                    "additionalProperties": false
                }
            ]
        })
    }
}
