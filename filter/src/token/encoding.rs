//! The compact serialization shared by ALB and bearer tokens: size limit, the three segments,
//! base64url (strict for JWTs, padding-tolerant for ALB), and JSON objects that refuse
//! duplicate member names at every depth.

use std::fmt;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Longest token accepted, in bytes. Anything longer is refused before any decoding.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// RFC 7515 base64url: no padding, canonical trailing bits.
const STRICT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

/// Canonically padded base64url: the ALB's form.
const PADDED: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// Decodes strict (unpadded) base64url.
pub fn b64_strict(text: &str) -> Option<Vec<u8>> {
    STRICT.decode(text).ok()
}

/// Decodes base64url either fully `=` padded or unpadded; the alphabet, the padding length
/// and the trailing bits are still checked.
pub fn b64_lenient(text: &str) -> Option<Vec<u8>> {
    if text.ends_with('=') {
        PADDED.decode(text).ok()
    } else {
        STRICT.decode(text).ok()
    }
}

/// Encodes unpadded base64url.
pub fn b64_encode(bytes: &[u8]) -> String {
    STRICT.encode(bytes)
}

/// Encodes base64url with `=` padding (the ALB's form).
#[cfg(any(test, feature = "mint"))]
pub fn b64_encode_padded(bytes: &[u8]) -> String {
    PADDED.encode(bytes)
}

/// A token split into its segments, borrowed from the input.
#[derive(Debug, Clone, Copy)]
pub struct Segments<'a> {
    /// `header.payload`, exactly as received: what the signature covers.
    pub signed: &'a str,
    /// First segment.
    pub header: &'a str,
    /// Second segment.
    pub payload: &'a str,
    /// Third segment.
    pub signature: &'a str,
}

/// Splits a compact token into exactly three segments, after the size check. Header and
/// payload must be non-empty; an empty signature is left for the algorithm check (so that
/// `alg: none` is reported as such) and then fails verification.
pub fn split(token: &str) -> Result<Segments<'_>, &'static str> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err("token longer than 16 KiB");
    }
    let Some((signed, signature)) = token.rsplit_once('.') else {
        return Err("token is not three dot-separated segments");
    };
    let Some((header, payload)) = signed.split_once('.') else {
        return Err("token is not three dot-separated segments");
    };
    if payload.contains('.') {
        return Err("token has more than three segments");
    }
    if header.is_empty() || payload.is_empty() {
        return Err("token has an empty segment");
    }
    Ok(Segments {
        signed,
        header,
        payload,
        signature,
    })
}

/// Parses a JSON object, refusing invalid UTF-8, duplicate member names at any depth, and
/// anything but an object at the top.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = DistinctValue::deserialize(&mut de).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    match value.0 {
        Value::Object(map) => Ok(map),
        _ => Err("not a JSON object".into()),
    }
}

/// A JSON value whose objects hold each member name once.
struct DistinctValue(Value);

impl<'de> Deserialize<'de> for DistinctValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(DistinctVisitor)
            .map(DistinctValue)
    }
}

struct DistinctVisitor;

impl<'de> Visitor<'de> for DistinctVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        DistinctValue::deserialize(d).map(|v| v.0)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<DistinctValue>()? {
            items.push(item.0);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate member `{key}`")));
            }
            let value = access.next_value::<DistinctValue>()?;
            map.insert(key, value.0);
        }
        Ok(Value::Object(map))
    }
}

/// A short, printable rendering of a value taken from a token, for failure details.
pub fn shown(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(64)
        .flat_map(char::escape_default)
        .collect();
    if text.chars().count() > 64 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_base64_takes_padding_but_not_junk() {
        assert_eq!(b64_lenient("YQ==").as_deref(), Some(&b"a"[..]));
        assert_eq!(b64_lenient("YQ").as_deref(), Some(&b"a"[..]));
        assert_eq!(b64_lenient("YQ=").as_deref(), None);
        assert_eq!(b64_lenient("Y Q"), None);
        assert_eq!(b64_lenient("YQ+/"), None);
        assert_eq!(b64_lenient("YR"), None, "non-canonical trailing bits");
        assert_eq!(b64_strict("YQ=="), None);
        assert_eq!(b64_strict("YQ").as_deref(), Some(&b"a"[..]));
    }

    #[test]
    fn split_wants_three_non_empty_segments() {
        assert!(split("a.b.c").is_ok());
        assert!(split("a.b").is_err());
        assert!(split("a.b.c.d").is_err());
        assert!(split("a.b.c.d.e").is_err());
        assert!(split("a..c").is_err());
        assert!(split("a.b.").is_ok(), "empty signature: refused later");
        assert!(split(".b.c").is_err());
        assert!(split(&"a".repeat(MAX_TOKEN_BYTES + 1)).is_err());
    }

    #[test]
    fn objects_refuse_duplicates_at_any_depth() {
        assert!(parse_object(br#"{"a":1,"b":{"c":[1,{"d":2}]}}"#).is_ok());
        assert!(parse_object(br#"{"a":1,"a":2}"#).is_err());
        assert!(parse_object(br#"{"a":{"b":1,"b":1}}"#).is_err());
        assert!(parse_object(br#"[1]"#).is_err());
        assert!(parse_object(b"{\"a\":\"\xff\"}").is_err());
        assert!(parse_object(br#"{"a":1} x"#).is_err());
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(parse_object(format!("{{\"a\":{deep}}}").as_bytes()).is_err());
    }
}
