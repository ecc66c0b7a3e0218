//! Contracts from types: the JSON Schemas of the values every domain shares (what [`Principal`], [`Id`] and
//! [`WholeNumber`] accept, inlined wherever they are used), and a domain's events as AsyncAPI messages generated
//! from its event type — one message per event type and schema version, each with its payload's schema from the
//! Rust type, so that adding an event type adds no hand-written JSON.
//!
//! The messages name the document's shared components (`EventEnvelope`, `EventHeaders`, the `correlation` id), as
//! the AsyncAPI document of the topics defines them.

use crate::decider::DomainEvent;
use crate::personal::Personal;
use crate::values::{Id, IdKind, Principal, WholeNumber, MAX_PRINCIPAL_LEN, MAX_SAFE_INTEGER};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Map, Value};
use std::borrow::Cow;

/// The pattern of a lowercase hyphenated UUID (the only spelling an [`Id`] accepts).
pub const UUID_PATTERN: &str = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";

impl JsonSchema for Principal {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Principal".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_PRINCIPAL_LEN,
            "pattern": "^[^\\x00-\\x1f\\x7f-\\x9f]+$",
            "description": "A principal (an IAM principal's ARN or a JWT's sub): 1 to 256 bytes without control characters."
        })
    }
}

impl<K: IdKind> JsonSchema for Id<K> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        format!("{}Id", K::NOUN).into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "pattern": format!("^{UUID_PATTERN}$")})
    }
}

impl JsonSchema for WholeNumber {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "WholeNumber".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "integer", "minimum": 0, "maximum": MAX_SAFE_INTEGER})
    }
}

impl JsonSchema for Personal {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Personal".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "description": "One data subject's personal value: sealed (encrypted under the subject's key) as stored and published; erased once the subject is forgotten.",
            "required": ["$personal"],
            "additionalProperties": false,
            "properties": {"$personal": {
                "type": "object",
                "required": ["subject"],
                "additionalProperties": false,
                "properties": {
                    "subject": {"type": "string", "minLength": 1},
                    "value": {"type": "string"},
                    "sealed": {"type": "string"},
                    "erased": {"const": true}
                },
                "oneOf": [{"required": ["value"]}, {"required": ["sealed"]}, {"required": ["erased"]}]
            }}
        })
    }
}

/// The schema of a stream id of any of the aggregates whose streams have these prefixes (`["account-", "task-"]`:
/// `^(account|task)-<uuid>$`): the record key and `aggregate_id` of every event on the topic.
pub fn stream_id_schema(prefixes: &[&str]) -> Value {
    let kinds: Vec<&str> = prefixes.iter().map(|p| p.trim_end_matches('-')).collect();
    json!({
        "type": "string",
        "pattern": format!("^({})-{UUID_PATTERN}$", kinds.join("|")),
        "description": format!("An aggregate's event-store stream id: <kind>-<uuid>, kind one of {}.", kinds.join(", ")),
    })
}

/// A generator whose named schemas go to `#/components/schemas/<name>` (OpenAPI and AsyncAPI documents alike).
pub fn components_generator() -> SchemaGenerator {
    schemars::generate::SchemaSettings::draft2020_12()
        .with(|settings| settings.definitions_path = "/components/schemas".into())
        .into_generator()
}

/// The AsyncAPI part of the events topic for event type `E`, whose streams are `<stream_prefix><uuid>`: a message
/// per event type at its current schema version (`<Type>.v<N>`), on the `events` channel and in the document's
/// index of event types (`x-tributary-event-types`), its payload the variant's schema from `E`'s type.
pub fn event_messages<E: DomainEvent + JsonSchema>(stream_prefix: &str, noun: &str) -> Value {
    let mut generator = components_generator();
    let root = generator.root_schema_for::<E>();
    let variants: Vec<Value> = match root.as_value().get("oneOf").and_then(Value::as_array) {
        Some(variants) => variants.clone(),
        None => vec![root.as_value().clone()],
    };
    let stream = json!({"type": "string", "pattern": format!("^{stream_prefix}{UUID_PATTERN}$"),
        "description": format!("The event-store stream of a {noun}: {stream_prefix}<uuid>. Also the record key.")});
    let (mut schemas, mut messages, mut channel, mut index) =
        (Map::new(), Map::new(), Map::new(), Map::new());
    for mut variant in variants {
        let event_type = variant["properties"]["type"]["const"]
            .as_str()
            .expect("an event enum is internally tagged by \"type\" (#[serde(tag = \"type\")])")
            .to_owned();
        let version = E::current_schema_version(&event_type);
        let name = format!("{event_type}.v{version}");
        if let Some(object) = variant.as_object_mut() {
            object.remove("$schema");
        }
        schemas.insert(name.clone(), variant);
        messages.insert(
            name.clone(),
            json!({
                "name": name,
                "title": format!("{event_type} (schema version {version})"),
                "description": format!("A committed {noun} event on the events topic: event_type {event_type}, \
                    schema_version {version}, aggregate_id {stream_prefix}<uuid>. Generated from the event type."),
                "contentType": "application/json",
                "headers": {"allOf": [{"$ref": "#/components/schemas/EventHeaders"}, {"type": "object",
                    "properties": {"event_type": {"const": event_type}, "schema_version": {"const": version.to_string()}}}]},
                "payload": {"allOf": [{"$ref": "#/components/schemas/EventEnvelope"}, {"type": "object",
                    "properties": {"event_type": {"const": event_type}, "schema_version": {"const": version},
                        "aggregate_id": stream, "payload": {"$ref": format!("#/components/schemas/{name}")}}}]},
                "correlationId": {"$ref": "#/components/correlationIds/correlation"},
                "bindings": {"kafka": {"key": stream, "bindingVersion": "0.5.0"}}
            }),
        );
        channel.insert(
            name.clone(),
            json!({"$ref": format!("#/components/messages/{name}")}),
        );
        let mut versions = Map::new();
        versions.insert(
            version.to_string(),
            json!(format!("#/components/messages/{name}")),
        );
        index.insert(event_type, Value::Object(versions));
    }
    for (name, schema) in generator.take_definitions(true) {
        schemas.insert(name, schema);
    }
    json!({
        "channels": {"events": {"messages": channel}},
        "components": {"schemas": schemas, "messages": messages},
        "x-tributary-event-types": {"events": index},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
    #[serde(tag = "type", deny_unknown_fields)]
    enum Tallied {
        Started { by: Principal },
        Counted { amount: WholeNumber },
    }

    impl DomainEvent for Tallied {
        fn event_type(&self) -> &'static str {
            match self {
                Self::Started { .. } => "Started",
                Self::Counted { .. } => "Counted",
            }
        }
        fn current_schema_version(event_type: &str) -> u32 {
            if event_type == "Counted" {
                2
            } else {
                1
            }
        }
    }

    #[test]
    fn each_event_type_is_a_message_at_its_schema_version() {
        let part = event_messages::<Tallied>("tally-", "tally");
        let index = &part["x-tributary-event-types"]["events"];
        assert_eq!(index["Started"]["1"], "#/components/messages/Started.v1");
        assert_eq!(index["Counted"]["2"], "#/components/messages/Counted.v2");
        let counted = &part["components"]["schemas"]["Counted.v2"];
        assert_eq!(counted["properties"]["type"]["const"], "Counted");
        assert_eq!(counted["properties"]["amount"]["type"], "integer");
        assert_eq!(counted["additionalProperties"], false);
        let started = &part["components"]["schemas"]["Started.v1"];
        assert_eq!(started["properties"]["by"]["minLength"], 1, "{started}");
        assert_eq!(
            part["components"]["messages"]["Started.v1"]["payload"]["allOf"][1]["properties"]
                ["aggregate_id"]["pattern"],
            format!("^tally-{UUID_PATTERN}$")
        );
        assert!(part["channels"]["events"]["messages"]["Counted.v2"].is_object());
    }

    #[test]
    fn a_stream_id_is_any_aggregates() {
        let schema = stream_id_schema(&["account-", "task-"]);
        assert_eq!(
            schema["pattern"],
            format!("^(account|task)-{UUID_PATTERN}$")
        );
    }
}
