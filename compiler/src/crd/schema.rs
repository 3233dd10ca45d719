//! The structural OpenAPI v3 schema of a CustomResourceDefinition version
//! (`spec.versions[].schema.openAPIV3Schema`), read as written. Keywords the validator does
//! not check (`description`, `default`, `example`, …) are accepted and ignored.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// One schema node.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Schema {
    /// `object`, `array`, `string`, `integer`, `number`, `boolean`, or none.
    #[serde(rename = "type")]
    pub ty: Option<String>,
    /// Declared properties of an object.
    #[serde(default)]
    pub properties: BTreeMap<String, Schema>,
    /// Schema of the values of a map-like object, or `false`.
    pub additional_properties: Option<AdditionalProperties>,
    /// Schema of every item of an array.
    pub items: Option<Box<Schema>>,
    /// Properties that must be present (`required:` with no list counts as none).
    pub required: Option<Vec<String>>,
    /// The only allowed values.
    #[serde(rename = "enum")]
    pub enum_values: Option<Vec<Value>>,
    /// Whether `null` is allowed.
    #[serde(default)]
    pub nullable: bool,
    /// `int32`, `int64`, `date-time`, `date`, `byte`, `uuid`, `ipv4`, `ipv6`, … (others ignored).
    pub format: Option<String>,
    /// Regular expression a string must match (unanchored).
    pub pattern: Option<String>,
    /// Longest string, in characters.
    pub max_length: Option<u64>,
    /// Shortest string, in characters.
    pub min_length: Option<u64>,
    /// Largest number.
    pub maximum: Option<f64>,
    /// Smallest number.
    pub minimum: Option<f64>,
    /// Whether `maximum` itself is excluded.
    #[serde(default)]
    pub exclusive_maximum: bool,
    /// Whether `minimum` itself is excluded.
    #[serde(default)]
    pub exclusive_minimum: bool,
    /// A number must be a multiple of this.
    pub multiple_of: Option<f64>,
    /// Most items in an array.
    pub max_items: Option<u64>,
    /// Fewest items in an array.
    pub min_items: Option<u64>,
    /// Whether array items must differ.
    #[serde(default)]
    pub unique_items: bool,
    /// Most properties in an object.
    pub max_properties: Option<u64>,
    /// Fewest properties in an object.
    pub min_properties: Option<u64>,
    /// Exactly one must hold.
    #[serde(default)]
    pub one_of: Vec<Schema>,
    /// At least one must hold.
    #[serde(default)]
    pub any_of: Vec<Schema>,
    /// All must hold.
    #[serde(default)]
    pub all_of: Vec<Schema>,
    /// Must not hold.
    pub not: Option<Box<Schema>>,
    /// Fields not declared in `properties` are kept rather than rejected.
    #[serde(rename = "x-kubernetes-preserve-unknown-fields", default)]
    pub preserve_unknown_fields: bool,
    /// An integer or a string.
    #[serde(rename = "x-kubernetes-int-or-string", default)]
    pub int_or_string: bool,
    /// An embedded object with its own `apiVersion`, `kind` and `metadata`.
    #[serde(rename = "x-kubernetes-embedded-resource", default)]
    pub embedded_resource: bool,
    /// `atomic`, `set` or `map`.
    #[serde(rename = "x-kubernetes-list-type")]
    pub list_type: Option<String>,
    /// Keys identifying the items of a `map` list.
    #[serde(rename = "x-kubernetes-list-map-keys", default)]
    pub list_map_keys: Vec<String>,
    /// CEL validation rules.
    #[serde(rename = "x-kubernetes-validations", default)]
    pub validations: Vec<ValidationRule>,
}

/// `additionalProperties`: a boolean or a schema.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum AdditionalProperties {
    /// `true`: anything; `false`: nothing beyond `properties`.
    Allowed(bool),
    /// Every other property's value must match this.
    Schema(Box<Schema>),
}

/// One `x-kubernetes-validations` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationRule {
    /// The CEL expression; `self` is the value the rule sits on.
    pub rule: String,
    /// Message when the rule fails (default: `failed rule: <rule>`).
    pub message: Option<String>,
    /// CEL expression producing the message, preferred over `message` when it evaluates.
    pub message_expression: Option<String>,
    /// Path below `self` that the error names, e.g. `.spec.url`.
    pub field_path: Option<String>,
}

impl Schema {
    /// Reads a schema from its JSON form.
    pub fn from_value(value: &Value) -> Result<Schema, String> {
        serde_path_to_error::deserialize(value)
            .map_err(|e| format!("invalid schema at `{}`: {}", e.path(), e.inner()))
    }

    /// The schema of property `name`: a declared one, else `additionalProperties`.
    pub fn property(&self, name: &str) -> Option<&Schema> {
        match (self.properties.get(name), &self.additional_properties) {
            (Some(s), _) => Some(s),
            (None, Some(AdditionalProperties::Schema(s))) => Some(s),
            _ => None,
        }
    }

    /// Whether this node describes a map (values by arbitrary keys) rather than a record.
    pub fn is_map(&self) -> bool {
        self.properties.is_empty()
            && matches!(
                self.additional_properties,
                Some(AdditionalProperties::Schema(_))
            )
    }
}
