//! Shape variants: deliberate differences from the Coze API's shape, so a Coze-shaped gateway mock differs from the
//! legacy one in known ways and `cutover compat` has something true to find (`shape_variants` in a profile):
//! a missing field, a field of another JSON type, another SSE event order, another HTTP status for "not found".
//! JSON bodies are rewritten after the handler built them (only when the profile has variants: no cost otherwise).

use axum::body::Body;
use axum::http::{header, Response, StatusCode};
use serde_json::Value;

use super::http::{json, MAX_REQUEST_BODY};
use super::profile::ShapeVariant;

/// Field paths as `cutover compat` prints them: `data.created_at`, `data[].chat_id` (`[]` = every element).
fn segments(path: &str) -> Vec<&str> {
    path.split('.').filter(|s| !s.is_empty()).collect()
}

/// Apply `f` to every value at `path` (the parent object and the last key).
fn at_path(
    v: &mut Value,
    path: &[&str],
    f: &mut dyn FnMut(&mut serde_json::Map<String, Value>, &str),
) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let (key, each) = match first.strip_suffix("[]") {
        Some(k) => (k, true),
        None => (*first, false),
    };
    let Some(obj) = v.as_object_mut() else {
        return;
    };
    if rest.is_empty() && !each {
        f(obj, key);
        return;
    }
    let Some(child) = obj.get_mut(key) else {
        return;
    };
    match (each, child) {
        (true, Value::Array(items)) => items.iter_mut().for_each(|x| at_path(x, rest, f)),
        (false, c) => at_path(c, rest, f),
        _ => {}
    }
}

/// Another JSON type for the same value: number/bool -> string, string -> number.
fn retype(v: &mut Value) {
    let new = match &*v {
        Value::String(s) => s
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::from(0), Value::Number),
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(b.to_string()),
        other => Value::String(other.to_string()),
    };
    *v = new;
}

/// Rewrite a JSON body per the variants (SSE bodies are left to the stream itself).
pub(crate) async fn apply(variants: &[ShapeVariant], resp: Response<Body>) -> Response<Body> {
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_REQUEST_BODY * 4).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let Ok(mut v) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let mut status = parts.status;
    for var in variants {
        match var {
            ShapeVariant::MissingField { field } => {
                at_path(&mut v, &segments(field), &mut |o, k| {
                    o.remove(k);
                })
            }
            ShapeVariant::ChangedType { field } => {
                at_path(&mut v, &segments(field), &mut |o, k| {
                    if let Some(x) = o.get_mut(k) {
                        retype(x);
                    }
                })
            }
            ShapeVariant::NotFoundStatus { status: s } => {
                if v.get("code").and_then(Value::as_i64) == Some(4200) {
                    status = StatusCode::from_u16(*s).unwrap_or(status);
                }
            }
            ShapeVariant::SseOrder => {}
        }
    }
    let mut out = json(status, serde_json::to_vec(&v).unwrap_or_default());
    for (k, val) in parts.headers.iter() {
        if k != header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), val.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_reach_objects_and_array_elements() {
        let mut v = json!({"data": {"id": "1", "created_at": 5}, "list": [{"a": 1}, {"a": 2}]});
        at_path(&mut v, &segments("data.id"), &mut |o, k| {
            o.remove(k);
        });
        at_path(&mut v, &segments("data.created_at"), &mut |o, k| {
            retype(o.get_mut(k).unwrap())
        });
        at_path(&mut v, &segments("list[].a"), &mut |o, k| {
            retype(o.get_mut(k).unwrap())
        });
        assert_eq!(
            v,
            json!({"data": {"created_at": "5"}, "list": [{"a": "1"}, {"a": "2"}]})
        );
    }
}
