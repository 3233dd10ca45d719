//! CEL rules (`x-kubernetes-validations`) evaluated with `cel-interpreter`, with the parts of
//! Kubernetes' CEL environment that CRD rules use: `self` bound to the value (object fields by
//! their escaped names), `isURL()`, `url()` and its accessors, `lowerAscii()`/`upperAscii()`,
//! on top of the interpreter's `has()`, `size()`, `all()`, `exists()`, `exists_one()`,
//! `contains()`, `startsWith()`, `endsWith()`, `matches()`, `duration()`, `timestamp()` and `in`.
//! Transition rules (those naming `oldSelf`) are skipped: a manifest is checked as a create.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use cel_interpreter::extractors::This;
use cel_interpreter::objects::{Key, Map};
use cel_interpreter::{Context, ExecutionError, Program, Value as Cel};
use serde_json::Value;

use super::schema::{Schema, ValidationRule};
use super::url::{parse_request_uri, Url};
use super::Violation;

/// The key under which a `url()` value carries its text (CEL here has no opaque types).
const URL_KEY: &str = "__gatehouse_url__";

/// Checks `schema`'s rules against `value` (which already has the schema's type).
pub(crate) fn check_rules(schema: &Schema, value: &Value, path: &str, out: &mut Vec<Violation>) {
    if schema.validations.is_empty() {
        return;
    }
    let this = to_cel(value, schema);
    for rule in &schema.validations {
        let at = match &rule.field_path {
            Some(fp) => format!("{path}{fp}"),
            None => path.to_string(),
        };
        let fail = |why: String| Violation {
            path: at.clone(),
            message: format!("{at}: Invalid value: \"{}\": {why}", type_name(value)),
        };
        match evaluate(&rule.rule, &this) {
            Ok(None) | Ok(Some(Cel::Bool(true))) => {}
            Ok(Some(Cel::Bool(false))) => out.push(fail(failure_message(rule, &this))),
            Ok(Some(other)) => out.push(fail(format!(
                "rule `{}` gave {other:?}, not a bool",
                rule.rule
            ))),
            Err(e) => out.push(fail(format!(
                "rule `{}` could not be evaluated: {e}",
                rule.rule
            ))),
        }
    }
}

fn failure_message(rule: &ValidationRule, this: &Cel) -> String {
    if let Some(expr) = &rule.message_expression {
        if let Ok(Some(Cel::String(s))) = evaluate(expr, this) {
            return s.to_string();
        }
    }
    match &rule.message {
        Some(m) => m.clone(),
        None => format!("failed rule: {}", rule.rule),
    }
}

/// Evaluates one expression with `self` bound; `Ok(None)` for a transition rule (skipped).
pub fn evaluate(expr: &str, this: &Cel) -> Result<Option<Cel>, String> {
    let program = Program::compile(expr).map_err(|e| format!("does not parse: {e}"))?;
    if program.references().has_variable("oldSelf") {
        return Ok(None);
    }
    let mut ctx = kubernetes_context();
    ctx.add_variable_from_value("self", this.clone());
    // The interpreter still has `todo!()`s for constructs no CRD rule here uses; keep a
    // bad rule from taking the process down.
    match catch_unwind(AssertUnwindSafe(|| program.execute(&ctx))) {
        Ok(Ok(v)) => Ok(Some(v)),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the CEL interpreter does not support this expression".into()),
    }
}

/// The interpreter's standard functions plus the Kubernetes extensions used by CRD rules.
fn kubernetes_context() -> Context<'static> {
    let mut ctx = Context::default();
    ctx.add_function("isURL", |s: Arc<String>| parse_request_uri(&s).is_ok());
    ctx.add_function("url", |s: Arc<String>| -> Result<Cel, ExecutionError> {
        parse_request_uri(&s).map_err(|e| {
            ExecutionError::function_error(
                "url",
                format!("URL parse error during conversion from string: {e}"),
            )
        })?;
        let map: HashMap<Key, Cel> = HashMap::from([(Key::from(URL_KEY), Cel::String(s))]);
        Ok(Cel::Map(Map { map: Arc::new(map) }))
    });
    ctx.add_function("getScheme", |This(u): This<Cel>| {
        url_part(&u, |u| u.scheme.clone())
    });
    ctx.add_function("getHost", |This(u): This<Cel>| {
        url_part(&u, |u| u.host.clone())
    });
    ctx.add_function("getHostname", |This(u): This<Cel>| {
        url_part(&u, |u| u.hostname().to_string())
    });
    ctx.add_function("getPort", |This(u): This<Cel>| {
        url_part(&u, |u| u.port().to_string())
    });
    ctx.add_function("getEscapedPath", |This(u): This<Cel>| {
        url_part(&u, |u| u.escaped_path.clone())
    });
    ctx.add_function("lowerAscii", |This(s): This<Arc<String>>| {
        s.to_ascii_lowercase()
    });
    ctx.add_function("upperAscii", |This(s): This<Arc<String>>| {
        s.to_ascii_uppercase()
    });
    ctx
}

fn url_part(u: &Cel, part: impl Fn(&Url) -> String) -> Result<Cel, ExecutionError> {
    let text = match u {
        Cel::Map(m) => match m.map.get(&Key::from(URL_KEY)) {
            Some(Cel::String(s)) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    };
    let text = text.ok_or_else(|| ExecutionError::function_error("url", "not a URL"))?;
    let url = parse_request_uri(&text).map_err(|e| ExecutionError::function_error("url", e))?;
    Ok(Cel::String(Arc::new(part(&url))))
}

/// The Kubernetes type name of a JSON value, as error messages print it.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Converts a JSON value to CEL the way Kubernetes binds `self`: integers as `int`, `number`s
/// as `double`, `date-time` strings as timestamps, record fields by escaped name.
pub fn to_cel(v: &Value, schema: &Schema) -> Cel {
    let none = Schema::default();
    match v {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) => match (schema.ty.as_deref(), n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some("number"), _, _, Some(f)) => Cel::Float(f),
            (_, Some(i), _, _) => Cel::Int(i),
            (_, _, Some(u), _) => Cel::UInt(u),
            (_, _, _, f) => Cel::Float(f.unwrap_or(f64::NAN)),
        },
        Value::String(s) => match schema.format.as_deref() {
            Some("date-time") => match chrono::DateTime::parse_from_rfc3339(s) {
                Ok(t) => Cel::Timestamp(t),
                Err(_) => Cel::String(Arc::new(s.clone())),
            },
            _ => Cel::String(Arc::new(s.clone())),
        },
        Value::Array(items) => {
            let item = schema.items.as_deref().unwrap_or(&none);
            Cel::List(Arc::new(items.iter().map(|i| to_cel(i, item)).collect()))
        }
        Value::Object(fields) => {
            let record = !schema.is_map();
            let map: HashMap<Key, Cel> = fields
                .iter()
                .map(|(k, v)| {
                    let name = if record { escape(k) } else { k.clone() };
                    (
                        Key::from(name),
                        to_cel(v, schema.property(k).unwrap_or(&none)),
                    )
                })
                .collect();
            Cel::Map(Map { map: Arc::new(map) })
        }
    }
}

const RESERVED: [&str; 21] = [
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

/// Kubernetes' escaping of a property name for CEL field access (`x-y` → `x__dash__y`).
pub fn escape(name: &str) -> String {
    if RESERVED.contains(&name) {
        return format!("__{name}__");
    }
    name.replace("__", "__underscores__")
        .replace('.', "__dot__")
        .replace('-', "__dash__")
        .replace('/', "__slash__")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn eval(expr: &str, v: Value) -> Cel {
        evaluate(expr, &to_cel(&v, &Schema::default()))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn kubernetes_helpers_work() {
        assert_eq!(eval("isURL(self)", json!("https://x/y")), Cel::Bool(true));
        assert_eq!(eval("isURL(self)", json!("test")), Cel::Bool(false));
        assert_eq!(
            eval("url(self).getScheme()", json!("OCI://r/x")),
            Cel::String(Arc::new("oci".into()))
        );
        assert_eq!(
            eval(
                "url(self).getHostname() + url(self).getPort()",
                json!("http://h:81/")
            ),
            Cel::String(Arc::new("h81".into()))
        );
        assert_eq!(
            eval(
                "self.all(k, !k.contains('*'))",
                json!({"a": "1", "b*": "2"})
            ),
            Cel::Bool(false)
        );
        assert_eq!(
            eval("has(self.x) && !has(self.y)", json!({"x": 1})),
            Cel::Bool(true)
        );
        assert_eq!(
            eval("self.x__dash__y == 1", json!({"x-y": 1})),
            Cel::Bool(true)
        );
        assert_eq!(
            eval("duration(self) >= duration('1ms')", json!("2s")),
            Cel::Bool(true)
        );
        assert_eq!(
            eval("self.lowerAscii() == 'ab'", json!("AB")),
            Cel::Bool(true)
        );
        assert_eq!(evaluate("self == oldSelf", &Cel::Null).unwrap(), None);
    }
}
