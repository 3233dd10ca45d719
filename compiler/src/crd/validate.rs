//! The structural walk: types, `nullable`, `enum`, string/number/array/object limits,
//! `pattern`, `format`, list types, unknown fields, `allOf`/`anyOf`/`oneOf`/`not`, and the CEL
//! rules of each node. Messages follow the Kubernetes API server's wording.

use regex::Regex;
use serde_json::Value;

use super::cel::{check_rules, type_name};
use super::schema::{AdditionalProperties, Schema};
use super::Violation;

/// Whether unknown fields are errors (the schema proper) or not (inside `oneOf` and friends,
/// whose branches only add value constraints).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A node of the structural schema.
    Structural,
    /// A branch of a junctor.
    Junctor,
}

/// `a.b`, `a[0]`: the path of a field below `path`.
pub(crate) fn field(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

fn push(out: &mut Vec<Violation>, path: &str, message: String) {
    out.push(Violation {
        path: path.to_string(),
        message,
    });
}

/// Validates `value` at `path` against `schema`, appending every violation.
pub(crate) fn validate(
    schema: &Schema,
    value: &Value,
    path: &str,
    mode: Mode,
    out: &mut Vec<Violation>,
) {
    if value.is_null() {
        if !schema.nullable {
            if let Some(ty) = &schema.ty {
                push(
                    out,
                    path,
                    format!("{path} in body must be of type {ty}: \"null\""),
                );
            }
        }
        return;
    }
    if let Some(ty) = &schema.ty {
        if !schema.int_or_string && !has_type(value, ty) {
            let got = type_name(value);
            push(
                out,
                path,
                format!("{path} in body must be of type {ty}: \"{got}\""),
            );
            return;
        }
    }
    if let Some(allowed) = &schema.enum_values {
        if !allowed.contains(value) {
            let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
            push(
                out,
                path,
                format!(
                    "{path}: Unsupported value: {value}: supported values: {}",
                    list.join(", ")
                ),
            );
        }
    }
    match value {
        Value::String(s) => check_string(schema, s, path, out),
        Value::Number(_) => check_number(schema, value, path, out),
        Value::Array(items) => check_array(schema, items, path, mode, out),
        Value::Object(fields) => check_object(schema, fields, path, mode, out),
        _ => {}
    }
    check_junctors(schema, value, path, out);
    // A node's rules run whenever its own type is right, whatever its fields hold.
    if mode == Mode::Structural {
        check_rules(schema, value, path, out);
    }
}

fn has_type(v: &Value, ty: &str) -> bool {
    match ty {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => true,
    }
}

fn check_string(schema: &Schema, s: &str, path: &str, out: &mut Vec<Violation>) {
    let len = s.chars().count() as u64;
    if let Some(min) = schema.min_length.filter(|m| len < *m) {
        push(
            out,
            path,
            format!("{path} in body should be at least {min} chars long"),
        );
    }
    if let Some(max) = schema.max_length.filter(|m| len > *m) {
        push(
            out,
            path,
            format!("{path} in body should be at most {max} chars long"),
        );
    }
    if let Some(p) = &schema.pattern {
        match Regex::new(p) {
            Ok(re) if re.is_match(s) => {}
            Ok(_) => push(out, path, format!("{path} in body should match '{p}'")),
            Err(e) => push(
                out,
                path,
                format!("{path}: the schema's pattern `{p}` is invalid: {e}"),
            ),
        }
    }
    if let Some(f) = &schema.format {
        if !string_format_ok(f, s) {
            push(
                out,
                path,
                format!("{path} in body must be of type {f}: \"{s}\""),
            );
        }
    }
}

/// The string formats Kubernetes checks that CRDs commonly use; others pass.
fn string_format_ok(format: &str, s: &str) -> bool {
    use base64::Engine as _;
    match format {
        "date-time" | "datetime" => chrono::DateTime::parse_from_rfc3339(s).is_ok(),
        "date" => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
        "byte" => base64::engine::general_purpose::STANDARD.decode(s).is_ok(),
        "ipv4" => s.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => s.parse::<std::net::Ipv6Addr>().is_ok(),
        "uuid" => {
            let hex: Vec<&str> = s.split('-').collect();
            hex.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
                && hex.iter().all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
        }
        _ => true,
    }
}

fn check_number(schema: &Schema, v: &Value, path: &str, out: &mut Vec<Violation>) {
    let Some(n) = v.as_f64() else { return };
    if let Some(max) = schema.maximum {
        if n > max || (schema.exclusive_maximum && n == max) {
            let rel = if schema.exclusive_maximum {
                "less than"
            } else {
                "less than or equal to"
            };
            push(out, path, format!("{path} in body should be {rel} {max}"));
        }
    }
    if let Some(min) = schema.minimum {
        if n < min || (schema.exclusive_minimum && n == min) {
            let rel = if schema.exclusive_minimum {
                "greater than"
            } else {
                "greater than or equal to"
            };
            push(out, path, format!("{path} in body should be {rel} {min}"));
        }
    }
    if let Some(m) = schema.multiple_of.filter(|m| *m != 0.0) {
        if (n / m).fract() != 0.0 {
            push(
                out,
                path,
                format!("{path} in body should be a multiple of {m}"),
            );
        }
    }
    let range = match schema.format.as_deref() {
        Some("int32") => Some((f64::from(i32::MIN), f64::from(i32::MAX))),
        _ => None,
    };
    if let Some((lo, hi)) = range.filter(|(lo, hi)| n < *lo || n > *hi) {
        push(
            out,
            path,
            format!("{path} in body should be between {lo} and {hi} (int32)"),
        );
    }
}

fn check_array(schema: &Schema, items: &[Value], path: &str, mode: Mode, out: &mut Vec<Violation>) {
    let n = items.len() as u64;
    if let Some(max) = schema.max_items.filter(|m| n > *m) {
        push(
            out,
            path,
            format!("{path} in body should have at most {max} items"),
        );
    }
    if let Some(min) = schema.min_items.filter(|m| n < *m) {
        push(
            out,
            path,
            format!("{path} in body should have at least {min} items"),
        );
    }
    let set = schema.unique_items || schema.list_type.as_deref() == Some("set");
    let map_keys = (schema.list_type.as_deref() == Some("map")).then_some(&schema.list_map_keys);
    let mut seen: Vec<Value> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let identity = match map_keys {
            Some(keys) => Some(Value::Object(
                keys.iter()
                    .filter_map(|k| item.get(k).map(|v| (k.clone(), v.clone())))
                    .collect(),
            )),
            None if set => Some(item.clone()),
            None => None,
        };
        if let Some(id) = identity {
            if seen.contains(&id) {
                push(out, &at, format!("{at}: Duplicate value: {id}"));
            } else {
                seen.push(id);
            }
        }
        if let Some(s) = &schema.items {
            validate(s, item, &at, mode, out);
        }
    }
}

fn check_object(
    schema: &Schema,
    fields: &serde_json::Map<String, Value>,
    path: &str,
    mode: Mode,
    out: &mut Vec<Violation>,
) {
    let n = fields.len() as u64;
    if let Some(max) = schema.max_properties.filter(|m| n > *m) {
        push(
            out,
            path,
            format!("{path} in body should have at most {max} properties"),
        );
    }
    if let Some(min) = schema.min_properties.filter(|m| n < *m) {
        push(
            out,
            path,
            format!("{path} in body should have at least {min} properties"),
        );
    }
    for r in schema.required.iter().flatten() {
        if !fields.contains_key(r) {
            let at = field(path, r);
            push(out, &at, format!("{at}: Required value"));
        }
    }
    for (k, v) in fields {
        if let Some(s) = schema.properties.get(k) {
            validate(s, v, &field(path, k), mode, out);
            continue;
        }
        match &schema.additional_properties {
            Some(AdditionalProperties::Schema(s)) => {
                validate(s, v, &format!("{path}[{k}]"), mode, out)
            }
            Some(AdditionalProperties::Allowed(true)) => {}
            _ if schema.preserve_unknown_fields || mode == Mode::Junctor => {}
            _ if schema.embedded_resource
                && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") => {}
            _ => {
                let at = field(path, k);
                push(out, &at, format!("unknown field \"{at}\""));
            }
        }
    }
}

fn passes(schema: &Schema, value: &Value, path: &str) -> bool {
    let mut scratch = Vec::new();
    validate(schema, value, path, Mode::Junctor, &mut scratch);
    scratch.is_empty()
}

fn check_junctors(schema: &Schema, value: &Value, path: &str, out: &mut Vec<Violation>) {
    for s in &schema.all_of {
        validate(s, value, path, Mode::Junctor, out);
    }
    if !schema.any_of.is_empty() && !schema.any_of.iter().any(|s| passes(s, value, path)) {
        push(
            out,
            path,
            format!("{path} in body must validate at least one schema (anyOf)"),
        );
    }
    if !schema.one_of.is_empty() {
        let n = schema
            .one_of
            .iter()
            .filter(|s| passes(s, value, path))
            .count();
        if n != 1 {
            push(
                out,
                path,
                format!("{path} in body must validate one and only one schema (oneOf); {n} match"),
            );
        }
    }
    if let Some(not) = &schema.not {
        if passes(not, value, path) {
            push(
                out,
                path,
                format!("{path} in body must not validate the schema (not)"),
            );
        }
    }
}
