//! JSON Schema helpers: the generator settings and the hand-written parts of the scenario schema
//! (`Scenario::json_schema_text`, `cutover schema scenario`), which is generated from the serde types so it cannot
//! drift from what `Scenario::load` accepts; shipped as `schemas/scenario.schema.json` for editors.
//!
//! The types derive `schemars::JsonSchema`; what serde cannot see (the threshold language is parsed by hand) is
//! described here as a string with a pattern and a description. The semantic checks (ranges, references between
//! fields, loopback) stay in `validate`: the schema is the shape, `cutover validate` is the meaning.

use schemars::{json_schema, Schema, SchemaGenerator};

/// Draft 7: the draft every YAML / JSON editor plugin understands.
pub(crate) fn generator() -> SchemaGenerator {
    schemars::generate::SchemaSettings::draft07().into_generator()
}

/// Pretty JSON with a trailing newline.
pub(crate) fn to_text(schema: &Schema) -> String {
    let mut s = serde_json::to_string_pretty(schema).unwrap_or_default();
    s.push('\n');
    s
}

/// One comparison operator between two non-empty sides: the shape of the threshold grammar (`threshold.rs`).
pub(crate) const THRESHOLD_PATTERN: &str =
    r"^[^<>=!]*[^<>=!\s][^<>=!]*(<=?|>=?|==|!=)[^<>=!]*[^<>=!\s][^<>=!]*$";

/// A threshold expression, e.g. `gateway.p99_ms < 400` (the grammar is in `threshold.rs`; `cutover validate`
/// parses it and names the column of a mistake).
pub(crate) fn threshold_expr(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "pattern": THRESHOLD_PATTERN,
        "description": "A comparison `<expr> OP <expr>` with OP one of < <= > >= == !=; an expr combines numbers \
            and `<target>.<metric>` references with + - * / and parentheses, e.g. `gateway.p99_ms < 400` or \
            `gateway.mean_ms < legacy.mean_ms * 0.8`.",
        "examples": ["gateway.p99_ms < 400", "gateway.mean_ms < legacy.mean_ms * 0.8"]
    })
}

/// A list of threshold expressions (canary phases).
pub(crate) fn threshold_exprs(g: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "array", "items": threshold_expr(g) })
}

/// A path written in the scenario: relative to the scenario file's folder, or absolute.
pub(crate) fn scenario_path(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "minLength": 1,
        "description": "A file path, relative to the folder of the scenario file (never the current directory), \
            or absolute."
    })
}

/// `replay_hour: peak`: the only word accepted besides an hour number.
pub(crate) fn peak_word(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "enum": ["peak"] })
}
