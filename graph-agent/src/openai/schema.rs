//! Tool and answer schemas rewritten for the JSON-Schema dialect a provider accepts.
//!
//! `parameters_schema` writes JSON Schema 2020-12 with subschemas inlined (only recursive types
//! keep `$defs`); providers accept different subsets of it.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

/// The JSON-Schema dialect a provider accepts for tool parameters and structured answers.
///
/// [`OpenAiModel`](crate::OpenAiModel) picks one from its provider name (`openai`: strict;
/// `gemini`: Gemini; anything else: plain); [`OpenAiModel::schema_dialect`](crate::OpenAiModel::schema_dialect)
/// overrides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SchemaDialect {
    /// OpenAI's strict mode (structured outputs): every object gets
    /// `additionalProperties: false`, every property is listed in `required` (optional ones
    /// become nullable), `default` and formats strict mode does not know are dropped, and the
    /// tool or answer is sent with `strict: true`. A schema strict mode cannot express (an
    /// object with free-form keys, a map) is sent as [`Plain`](Self::Plain), without `strict`.
    OpenAiStrict,
    /// Gemini's OpenAI-compatible endpoint: `$ref`s inlined, keywords it rejects
    /// (`$schema`, `$defs`, `additionalProperties`, `default`, ...) dropped, optional values
    /// marked `nullable: true` and `const` written as a one-value `enum`.
    Gemini,
    /// The schema as written, minus `$schema`: for servers that take any JSON Schema
    /// (Ollama, vLLM, llama.cpp, LM Studio).
    Plain,
}

impl SchemaDialect {
    /// The dialect a provider speaks, by the name [`OpenAiModel::provider_name`](crate::OpenAiModel::provider_name) gives it.
    pub(crate) fn for_provider(provider: &str) -> Self {
        match provider {
            "openai" | "azure" | "azure.ai.openai" => SchemaDialect::OpenAiStrict,
            "gemini" | "google" | "gcp.gemini" => SchemaDialect::Gemini,
            _ => SchemaDialect::Plain,
        }
    }
}

/// A schema ready to send and the `strict` flag to send with it (`None`: leave it out).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CleanSchema {
    pub(crate) schema: Value,
    pub(crate) strict: Option<bool>,
}

/// `schema` rewritten for `dialect`.
pub(crate) fn clean(schema: &Value, dialect: SchemaDialect) -> CleanSchema {
    let mut plain = schema.clone();
    if let Some(root) = plain.as_object_mut() {
        root.remove("$schema");
    }
    match dialect {
        SchemaDialect::Plain => CleanSchema { schema: plain, strict: None },
        SchemaDialect::OpenAiStrict => {
            let mut strict = plain.clone();
            if make_strict(&mut strict) {
                CleanSchema { schema: strict, strict: Some(true) }
            } else {
                CleanSchema { schema: plain, strict: None }
            }
        }
        SchemaDialect::Gemini => {
            let defs = take_defs(&mut plain);
            let mut inlined = inline_refs(&plain, &defs, &mut Vec::new());
            for_each_schema(&mut inlined, &mut gemini_node);
            CleanSchema { schema: inlined, strict: None }
        }
    }
}

/// The formats OpenAI's strict mode accepts on strings.
const STRICT_FORMATS: [&str; 9] =
    ["date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"];

/// Rewrites `schema` for strict mode; `false` when strict mode cannot express it (its root
/// must be an object).
fn make_strict(schema: &mut Value) -> bool {
    let mut expressible = schema.as_object().is_some_and(is_object_schema);
    for_each_schema(schema, &mut |node| {
        node.remove("default");
        if node.get("format").and_then(Value::as_str).is_some_and(|f| !STRICT_FORMATS.contains(&f))
        {
            node.remove("format");
        }
        if !is_object_schema(node) {
            return;
        }
        let free_keys = node.get("additionalProperties").is_some_and(|extra| extra != false)
            || node.contains_key("patternProperties");
        if free_keys {
            expressible = false;
            return;
        }
        node.insert("additionalProperties".into(), Value::Bool(false));
        let required: BTreeSet<String> = node
            .get("required")
            .and_then(Value::as_array)
            .map(|names| names.iter().filter_map(|n| n.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        let Some(properties) = node.get_mut("properties").and_then(Value::as_object_mut) else {
            node.insert("properties".into(), json!({}));
            node.insert("required".into(), json!([]));
            return;
        };
        for (name, property) in properties.iter_mut() {
            if !required.contains(name) {
                make_nullable(property);
            }
        }
        let all: Vec<Value> = properties.keys().cloned().map(Value::String).collect();
        node.insert("required".into(), Value::Array(all));
    });
    expressible
}

fn is_object_schema(node: &Map<String, Value>) -> bool {
    match node.get("type") {
        Some(Value::String(t)) => t == "object",
        Some(Value::Array(types)) => types.iter().any(|t| t == "object"),
        _ => node.contains_key("properties"),
    }
}

/// Lets `schema` also accept `null`, as strict mode says an optional property.
fn make_nullable(schema: &mut Value) {
    let Some(node) = schema.as_object_mut() else { return };
    let null = Value::String("null".into());
    match node.get_mut("type") {
        Some(Value::String(t)) if t != "null" => {
            let t = std::mem::take(t);
            node.insert("type".into(), json!([t, "null"]));
        }
        Some(Value::Array(types)) if !types.contains(&null) => types.push(null.clone()),
        Some(_) => {}
        None => {
            if let Some(Value::Array(options)) = node.get_mut("anyOf") {
                if !options.iter().any(is_null_schema) {
                    options.push(json!({"type": "null"}));
                }
            } else if !node.is_empty() {
                *schema = json!({"anyOf": [schema.take(), {"type": "null"}]});
            }
            return;
        }
    }
    if let Some(Value::Array(values)) = node.get_mut("enum") {
        if !values.contains(&Value::Null) {
            values.push(Value::Null);
        }
    }
}

fn is_null_schema(schema: &Value) -> bool {
    schema.get("type").is_some_and(|t| t == "null")
}

/// Keywords Gemini's schema subset rejects.
const GEMINI_DROPPED: [&str; 13] = [
    "$schema",
    "$id",
    "$anchor",
    "$comment",
    "$defs",
    "definitions",
    "additionalProperties",
    "patternProperties",
    "unevaluatedProperties",
    "propertyNames",
    "default",
    "examples",
    "title",
];

/// Rewrites one schema node for Gemini (its subschemas are visited after it).
fn gemini_node(node: &mut Map<String, Value>) {
    for keyword in GEMINI_DROPPED {
        node.remove(keyword);
    }
    if let Some(value) = node.remove("const") {
        node.insert("enum".into(), json!([value]));
    }
    // `["integer", "null"]` is `integer` with `nullable: true`.
    if let Some(Value::Array(types)) = node.get("type") {
        let others: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        if others.len() == 1 && others.len() < types.len() {
            node.insert("type".into(), others[0].clone());
            node.insert("nullable".into(), Value::Bool(true));
        }
    }
    // `anyOf: [X, {"type": "null"}]` is X with `nullable: true`.
    if let Some(Value::Array(options)) = node.get("anyOf") {
        let others: Vec<&Value> = options.iter().filter(|o| !is_null_schema(o)).collect();
        if let ([Value::Object(only)], true) = (others.as_slice(), others.len() < options.len()) {
            let only = only.clone();
            node.remove("anyOf");
            for (key, value) in only {
                node.entry(key).or_insert(value);
            }
            node.insert("nullable".into(), Value::Bool(true));
            gemini_node(node);
        }
    }
}

/// Removes and returns the root's `$defs` (and older `definitions`).
fn take_defs(schema: &mut Value) -> Map<String, Value> {
    let mut defs = Map::new();
    if let Some(root) = schema.as_object_mut() {
        for keyword in ["definitions", "$defs"] {
            if let Some(Value::Object(found)) = root.remove(keyword) {
                defs.extend(found);
            }
        }
    }
    defs
}

/// `schema` with every local `$ref` replaced by its definition; a reference back into a
/// definition being expanded (a recursive type) becomes a plain object, its description kept.
fn inline_refs(schema: &Value, defs: &Map<String, Value>, expanding: &mut Vec<String>) -> Value {
    match schema {
        Value::Object(node) => {
            if let Some(name) = node.get("$ref").and_then(Value::as_str).and_then(local_def_name) {
                let mut siblings = node.clone();
                siblings.remove("$ref");
                let target = match defs.get(name) {
                    Some(_) if expanding.iter().any(|n| n == name) => json!({"type": "object"}),
                    Some(def) => {
                        expanding.push(name.to_owned());
                        let inlined = inline_refs(def, defs, expanding);
                        expanding.pop();
                        inlined
                    }
                    None => json!({"type": "object"}),
                };
                let Value::Object(mut merged) = target else { return target };
                for (key, value) in siblings {
                    merged.insert(key, inline_refs(&value, defs, expanding));
                }
                return Value::Object(merged);
            }
            let node = node
                .iter()
                .map(|(key, value)| (key.clone(), inline_refs(value, defs, expanding)))
                .collect();
            Value::Object(node)
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|item| inline_refs(item, defs, expanding)).collect())
        }
        other => other.clone(),
    }
}

fn local_def_name(reference: &str) -> Option<&str> {
    reference.strip_prefix("#/$defs/").or_else(|| reference.strip_prefix("#/definitions/"))
}

/// Calls `visit` on every schema object in `schema`: the root, then (after `visit` has
/// rewritten it) each subschema in the keywords that hold schemas; property names and
/// values of keywords like `enum` are never taken for schemas.
fn for_each_schema(schema: &mut Value, visit: &mut dyn FnMut(&mut Map<String, Value>)) {
    let Some(node) = schema.as_object_mut() else { return };
    visit(node);
    for keyword in ["properties", "$defs", "definitions", "patternProperties", "dependentSchemas"] {
        if let Some(Value::Object(schemas)) = node.get_mut(keyword) {
            for sub in schemas.values_mut() {
                for_each_schema(sub, visit);
            }
        }
    }
    for keyword in ["anyOf", "oneOf", "allOf", "prefixItems", "items"] {
        if let Some(Value::Array(schemas)) = node.get_mut(keyword) {
            for sub in schemas {
                for_each_schema(sub, visit);
            }
        }
    }
    for keyword in [
        "items",
        "additionalProperties",
        "not",
        "if",
        "then",
        "else",
        "contains",
        "propertyNames",
        "additionalItems",
        "unevaluatedItems",
        "unevaluatedProperties",
    ] {
        if let Some(sub @ Value::Object(_)) = node.get_mut(keyword) {
            for_each_schema(sub, visit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parameters_schema;
    use schemars::JsonSchema;
    use serde::Deserialize;

    /// Where to deliver.
    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Address {
        /// Street and number.
        street: String,
        /// The postal code, when known.
        postcode: Option<String>,
    }

    /// An order to place.
    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Order {
        /// What to buy.
        item: String,
        /// How many; one when absent.
        quantity: Option<u32>,
        /// Where to send it.
        address: Address,
        /// A second address for the invoice.
        billing: Option<Address>,
    }

    #[test]
    fn the_schema_as_written_by_parameters_schema() {
        // The input of every dialect below: schemars' inlined form.
        assert_eq!(
            parameters_schema::<Order>(),
            json!({
                "description": "An order to place.",
                "type": "object",
                "properties": {
                    "item": {"description": "What to buy.", "type": "string"},
                    "quantity": {
                        "description": "How many; one when absent.",
                        "type": ["integer", "null"],
                        "format": "uint32",
                        "minimum": 0
                    },
                    "address": {
                        "description": "Where to send it.",
                        "type": "object",
                        "properties": {
                            "street": {"description": "Street and number.", "type": "string"},
                            "postcode": {
                                "description": "The postal code, when known.",
                                "type": ["string", "null"]
                            }
                        },
                        "required": ["street"]
                    },
                    "billing": {
                        "description": "A second address for the invoice.",
                        "type": ["object", "null"],
                        "properties": {
                            "street": {"description": "Street and number.", "type": "string"},
                            "postcode": {
                                "description": "The postal code, when known.",
                                "type": ["string", "null"]
                            }
                        },
                        "required": ["street"]
                    }
                },
                "required": ["item", "address"]
            })
        );
    }

    #[test]
    fn strict_mode_closes_every_object_and_requires_every_property() {
        let clean = clean(&parameters_schema::<Order>(), SchemaDialect::OpenAiStrict);
        let address = json!({
            "description": "Where to send it.",
            "type": "object",
            "properties": {
                "street": {"description": "Street and number.", "type": "string"},
                "postcode": {
                    "description": "The postal code, when known.",
                    "type": ["string", "null"]
                }
            },
            "required": ["postcode", "street"],
            "additionalProperties": false
        });
        let mut billing = address.clone();
        billing["description"] = json!("A second address for the invoice.");
        billing["type"] = json!(["object", "null"]);
        assert_eq!(clean.strict, Some(true));
        assert_eq!(
            clean.schema,
            json!({
                "description": "An order to place.",
                "type": "object",
                "properties": {
                    "item": {"description": "What to buy.", "type": "string"},
                    "quantity": {
                        "description": "How many; one when absent.",
                        "type": ["integer", "null"],
                        "minimum": 0
                    },
                    "address": address,
                    "billing": billing
                },
                "required": ["address", "billing", "item", "quantity"],
                "additionalProperties": false
            })
        );
    }

    #[test]
    fn strict_mode_makes_optional_properties_nullable() {
        // A property outside `required` (a `#[serde(default)]` field, say) becomes nullable.
        let schema = json!({
            "type": "object",
            "properties": {
                "unit": {"type": "string", "enum": ["C", "F"], "default": "C"},
                "place": {"$ref": "#/$defs/Place"}
            },
            "$defs": {"Place": {"type": "object", "properties": {"name": {"type": "string"}}}}
        });
        let clean = clean(&schema, SchemaDialect::OpenAiStrict);
        assert_eq!(
            clean.schema,
            json!({
                "type": "object",
                "properties": {
                    "unit": {"type": ["string", "null"], "enum": ["C", "F", null]},
                    "place": {"anyOf": [{"$ref": "#/$defs/Place"}, {"type": "null"}]}
                },
                "required": ["place", "unit"],
                "additionalProperties": false,
                "$defs": {"Place": {
                    "type": "object",
                    "properties": {"name": {"type": ["string", "null"]}},
                    "required": ["name"],
                    "additionalProperties": false
                }}
            })
        );
    }

    #[test]
    fn a_map_cannot_be_strict_and_is_sent_plain() {
        #[derive(Deserialize, JsonSchema)]
        #[allow(dead_code)]
        struct Tags {
            /// Tag names to values.
            tags: std::collections::BTreeMap<String, String>,
        }
        let schema = parameters_schema::<Tags>();
        assert_eq!(
            clean(&schema, SchemaDialect::OpenAiStrict),
            CleanSchema { schema: schema.clone(), strict: None }
        );
    }

    #[test]
    fn a_schema_whose_root_is_not_an_object_cannot_be_strict() {
        let schema = json!({"type": "string", "format": "uint32"});
        assert_eq!(
            clean(&schema, SchemaDialect::OpenAiStrict),
            CleanSchema { schema: schema.clone(), strict: None }
        );
    }

    #[test]
    fn gemini_gets_inlined_nullable_schemas_without_the_keywords_it_rejects() {
        let clean = clean(&parameters_schema::<Order>(), SchemaDialect::Gemini);
        let address = json!({
            "type": "object",
            "properties": {
                "street": {"description": "Street and number.", "type": "string"},
                "postcode": {
                    "description": "The postal code, when known.",
                    "type": "string",
                    "nullable": true
                }
            },
            "required": ["street"]
        });
        let mut sent_address = address.clone();
        sent_address["description"] = json!("Where to send it.");
        let mut billing = address;
        billing["description"] = json!("A second address for the invoice.");
        billing["nullable"] = json!(true);
        assert_eq!(clean.strict, None);
        assert_eq!(
            clean.schema,
            json!({
                "description": "An order to place.",
                "type": "object",
                "properties": {
                    "item": {"description": "What to buy.", "type": "string"},
                    "quantity": {
                        "description": "How many; one when absent.",
                        "type": "integer",
                        "nullable": true,
                        "format": "uint32",
                        "minimum": 0
                    },
                    "address": sent_address,
                    "billing": billing
                },
                "required": ["item", "address"]
            })
        );
    }

    #[test]
    fn gemini_inlines_references_and_stops_at_recursion() {
        /// A folder and the folders inside it.
        #[derive(Deserialize, JsonSchema)]
        #[allow(dead_code)]
        struct Folder {
            /// The folder's name.
            name: String,
            /// Folders inside.
            children: Vec<Folder>,
        }
        #[derive(Deserialize, JsonSchema)]
        #[allow(dead_code)]
        struct Args {
            /// The tree to store.
            root: Folder,
        }
        let written = parameters_schema::<Args>();
        assert!(written.get("$defs").is_some(), "a recursive type keeps its definition");
        let folder = |children: Value| {
            json!({
                "type": "object",
                "properties": {
                    "name": {"description": "The folder's name.", "type": "string"},
                    "children": {"description": "Folders inside.", "type": "array", "items": children}
                },
                "required": ["name", "children"]
            })
        };
        let mut inner = folder(json!({"type": "object"}));
        inner["description"] = json!("A folder and the folders inside it.");
        let mut root = folder(inner);
        root["description"] = json!("The tree to store.");
        assert_eq!(
            clean(&written, SchemaDialect::Gemini).schema,
            json!({"type": "object", "properties": {"root": root}, "required": ["root"]})
        );
    }

    #[test]
    fn plain_keeps_the_schema_but_its_dialect_marker() {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {"default": {"type": "string", "default": "x"}},
            "additionalProperties": {"type": "string"}
        });
        let mut expected = schema.clone();
        expected.as_object_mut().unwrap().remove("$schema");
        assert_eq!(
            clean(&schema, SchemaDialect::Plain),
            CleanSchema { schema: expected, strict: None }
        );
    }

    #[test]
    fn the_provider_name_picks_the_dialect() {
        assert_eq!(SchemaDialect::for_provider("openai"), SchemaDialect::OpenAiStrict);
        assert_eq!(SchemaDialect::for_provider("gemini"), SchemaDialect::Gemini);
        assert_eq!(SchemaDialect::for_provider("ollama"), SchemaDialect::Plain);
        assert_eq!(SchemaDialect::for_provider("anthropic"), SchemaDialect::Plain);
    }
}
