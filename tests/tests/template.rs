//! `template.yaml` agrees with the code: its tables have the shapes the event store uses, its routes are the
//! functions' routes, every read model has its denormaliser, and every function its own least-privilege role.

use serde_norway::value::{Mapping, Tag, TaggedValue};
use serde_norway::Value;
use std::collections::BTreeSet;
use tributary_dynamodb::tables::{self, TableSpec};

fn written_template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    serde_norway::from_str(&std::fs::read_to_string(path).expect("template.yaml exists"))
        .expect("template.yaml is YAML")
}

/// The template as the SAM transform receives it: after `AWS::LanguageExtensions` expanded each
/// `Fn::ForEach::*` of Resources, and with `!FindInMap` on its own Mappings read, so the tests see every function,
/// role and alarm the loop makes. (The deployment checks expand it with the SAM CLI's own processor, then run the
/// SAM transform, cfn-lint and the IAM check on the result.)
fn template() -> Value {
    let mut template = written_template();
    let mappings = template["Mappings"].clone();
    let resources = template["Resources"]
        .as_mapping()
        .expect("Resources")
        .clone();
    let mut expanded = Mapping::new();
    for (key, value) in resources {
        let name = key.as_str().expect("logical ids are strings");
        if !name.starts_with("Fn::ForEach::") {
            expanded.insert(key, value);
            continue;
        }
        let [identifier, collection, outputs] = value
            .as_sequence()
            .expect("Fn::ForEach is a list")
            .as_slice()
        else {
            panic!("{name}: Fn::ForEach is [identifier, collection, outputs]")
        };
        let identifier = identifier.as_str().expect("the loop identifier");
        for item in collection.as_sequence().expect("a literal collection") {
            let item = item.as_str().expect("collection items are strings");
            for (output, body) in outputs.as_mapping().expect("outputs") {
                let id = output
                    .as_str()
                    .expect("an output key")
                    .replace(&format!("${{{identifier}}}"), item);
                let body = resolve(&substitute(body, identifier, item), &mappings);
                assert!(
                    expanded.insert(Value::from(id.clone()), body).is_none(),
                    "{id} twice"
                );
            }
        }
    }
    template["Resources"] = Value::Mapping(expanded);
    template
}

/// `body` with the loop's identifier replaced by `item`: `${identifier}` in every string, and `!Ref identifier`.
fn substitute(body: &Value, identifier: &str, item: &str) -> Value {
    match body {
        Value::String(text) => Value::from(text.replace(&format!("${{{identifier}}}"), item)),
        Value::Sequence(items) => Value::Sequence(
            items
                .iter()
                .map(|v| substitute(v, identifier, item))
                .collect(),
        ),
        Value::Mapping(map) => Value::Mapping(
            map.iter()
                .map(|(k, v)| (k.clone(), substitute(v, identifier, item)))
                .collect(),
        ),
        Value::Tagged(tagged)
            if tagged.tag == "Ref" && tagged.value.as_str() == Some(identifier) =>
        {
            Value::from(item)
        }
        Value::Tagged(tagged) => {
            tagged_value(&tagged.tag, substitute(&tagged.value, identifier, item))
        }
        other => other.clone(),
    }
}

/// `value` with what the template alone decides written out: `!FindInMap` on its Mappings, the plain-text variables
/// of a `!Sub [text, {variables}]`, and a `!Sub` that only names a resource as the `!Ref`/`!GetAtt` it means.
fn resolve(value: &Value, mappings: &Value) -> Value {
    match value {
        Value::Sequence(items) => {
            Value::Sequence(items.iter().map(|v| resolve(v, mappings)).collect())
        }
        Value::Mapping(map) => Value::Mapping(
            map.iter()
                .map(|(k, v)| (k.clone(), resolve(v, mappings)))
                .collect(),
        ),
        Value::Tagged(tagged) if tagged.tag == "FindInMap" => {
            let path: Vec<&str> = tagged
                .value
                .as_sequence()
                .expect("[map, key, attribute]")
                .iter()
                .map(|part| part.as_str().expect("FindInMap on plain names"))
                .collect();
            let found = &mappings[path[0]][path[1]][path[2]];
            assert!(!found.is_null(), "FindInMap {path:?} is not in Mappings");
            found.clone()
        }
        Value::Tagged(tagged) if tagged.tag == "Sub" => {
            let (mut text, variables) = match resolve(&tagged.value, mappings) {
                Value::String(text) => (text, Mapping::new()),
                Value::Sequence(parts) => (
                    parts[0]
                        .as_str()
                        .expect("!Sub [text, variables]")
                        .to_owned(),
                    parts[1].as_mapping().expect("!Sub variables").clone(),
                ),
                other => panic!("!Sub of {other:?}"),
            };
            let mut kept = Mapping::new();
            for (name, variable) in variables {
                match variable.as_str() {
                    Some(plain) => {
                        text = text.replace(&format!("${{{}}}", name.as_str().unwrap()), plain)
                    }
                    None => {
                        kept.insert(name, variable);
                    }
                }
            }
            let whole_reference = text
                .strip_prefix("${")
                .and_then(|rest| rest.strip_suffix('}'))
                .filter(|inner| !inner.contains(['$', '{', '}', ':']));
            match whole_reference {
                Some(inner) if kept.is_empty() && inner.contains('.') => {
                    tagged_value(&Tag::new("GetAtt"), Value::from(inner))
                }
                Some(inner) if kept.is_empty() => {
                    tagged_value(&Tag::new("Ref"), Value::from(inner))
                }
                _ if !text.contains("${") => Value::from(text),
                _ if kept.is_empty() => tagged_value(&Tag::new("Sub"), Value::from(text)),
                _ => tagged_value(
                    &Tag::new("Sub"),
                    Value::Sequence(vec![Value::from(text), Value::Mapping(kept)]),
                ),
            }
        }
        Value::Tagged(tagged) => tagged_value(&tagged.tag, resolve(&tagged.value, mappings)),
        other => other.clone(),
    }
}

fn tagged_value(tag: &Tag, value: Value) -> Value {
    Value::Tagged(Box::new(TaggedValue {
        tag: tag.clone(),
        value,
    }))
}

fn pairs(list: &Value, name: &str, value: &str) -> Pairs {
    let mut out: Vec<_> = list
        .as_sequence()
        .unwrap_or_else(|| panic!("{name} is a list"))
        .iter()
        .map(|entry| {
            let text = |k: &str| {
                entry[k]
                    .as_str()
                    .unwrap_or_else(|| panic!("{name}.{k}"))
                    .to_owned()
            };
            (text(name), text(value))
        })
        .collect();
    out.sort();
    out
}

/// (name, type) pairs, sorted.
type Pairs = Vec<(String, String)>;

fn expected(spec: &TableSpec) -> (Pairs, Pairs) {
    let mut keys = vec![(spec.partition_key.name.to_owned(), "HASH".to_owned())];
    let mut attributes = vec![(
        spec.partition_key.name.to_owned(),
        spec.partition_key.kind.as_str().to_owned(),
    )];
    if let Some(sort) = spec.sort_key {
        keys.push((sort.name.to_owned(), "RANGE".to_owned()));
        attributes.push((sort.name.to_owned(), sort.kind.as_str().to_owned()));
    }
    keys.sort();
    attributes.sort();
    (keys, attributes)
}

#[test]
fn every_table_in_the_code_is_in_the_template_with_the_same_keys() {
    let template = template();
    for spec in tables::ALL {
        let resource = &template["Resources"][spec.logical_id];
        assert_eq!(
            resource["Type"].as_str(),
            Some("AWS::DynamoDB::Table"),
            "{} in template.yaml",
            spec.logical_id
        );
        let properties = &resource["Properties"];
        let (keys, attributes) = expected(spec);
        assert_eq!(
            pairs(&properties["KeySchema"], "AttributeName", "KeyType"),
            keys,
            "{}",
            spec.logical_id
        );
        assert_eq!(
            pairs(
                &properties["AttributeDefinitions"],
                "AttributeName",
                "AttributeType"
            ),
            attributes,
            "{}",
            spec.logical_id
        );
        assert_eq!(properties["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
        assert_eq!(
            properties["StreamSpecification"]["StreamViewType"].as_str(),
            spec.stream_view,
            "{} stream",
            spec.logical_id
        );
        let ttl = &properties["TimeToLiveSpecification"];
        assert_eq!(
            ttl["AttributeName"].as_str(),
            spec.ttl_attribute,
            "{} TTL attribute",
            spec.logical_id
        );
        assert_eq!(
            ttl["Enabled"].as_bool(),
            spec.ttl_attribute.map(|_| true),
            "{} TTL enabled",
            spec.logical_id
        );
    }
}

/// The routes anyone may call: the OpenAPI and AsyncAPI documents (they describe the API and the topics, they reveal
/// no account).
const PUBLIC_ROUTES: [&str; 2] = ["GET /openapi.json", "GET /asyncapi.json"];

/// The template's HTTP routes as `(method, path)` pairs, each with the function its integration invokes.
fn template_routes(template: &Value) -> BTreeSet<(String, String, String)> {
    let resources = template["Resources"].as_mapping().expect("Resources");
    resources
        .values()
        .filter(|resource| resource["Type"].as_str() == Some("AWS::ApiGatewayV2::Route"))
        .map(|route| {
            let properties = &route["Properties"];
            let key = properties["RouteKey"].as_str().expect("RouteKey");
            let (method, path) = key.split_once(' ').expect("RouteKey is 'METHOD /path'");
            let integration = tagged_text(&properties["Target"], "!Sub")
                .strip_prefix("integrations/${")
                .and_then(|rest| rest.strip_suffix('}'))
                .unwrap_or_else(|| panic!("{key}: Target is integrations/${{Integration}}"))
                .to_owned();
            let uri = &template["Resources"][integration.as_str()]["Properties"]["IntegrationUri"];
            let function = tagged_text(uri, "!GetAtt")
                .strip_suffix(".Arn")
                .unwrap_or_else(|| panic!("{key}: integration invokes a function ARN"))
                .to_owned();
            if PUBLIC_ROUTES.contains(&key) {
                assert_eq!(
                    properties["AuthorizationType"].as_str(),
                    Some("NONE"),
                    "{key}: the API description is public"
                );
            } else {
                assert_eq!(
                    tagged_text(&properties["AuthorizationType"], "!If"),
                    "[UseJwt, JWT, AWS_IAM]",
                    "{key}: every other route is authorized (JWT or IAM by parameter)"
                );
            }
            (method.to_owned(), path.to_owned(), function)
        })
        .collect()
}

/// The text inside a short-form intrinsic such as `!Sub "..."` (a list value is rendered `[a, b, c]`).
fn tagged_text(value: &Value, tag: &str) -> String {
    let Value::Tagged(tagged) = value else {
        panic!("expected {tag}, found {value:?}")
    };
    assert_eq!(tagged.tag.to_string(), tag);
    match &tagged.value {
        Value::String(text) => text.clone(),
        Value::Sequence(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|item| item.as_str().expect("plain list item"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => panic!("{tag} of {other:?}"),
    }
}

#[test]
fn every_route_of_the_functions_is_in_the_template_and_invokes_its_function() {
    let template = template();
    let command = tributary_tests::served::command_routes()
        .into_iter()
        .map(|(method, path)| (method, path, "CommandFunction"));
    let query = tributary_tests::served::read_routes()
        .into_iter()
        .map(|(method, path)| (method, path, "QueryFunction"));
    let expected: BTreeSet<_> = command
        .chain(query)
        .map(|(method, path, function)| (method.to_owned(), path.to_owned(), function.to_owned()))
        .collect();
    assert_eq!(template_routes(&template), expected);
}

#[test]
fn the_relay_never_gives_up_on_a_committed_event() {
    let template = template();
    let mapping = &template["Resources"]["RelayFunction"]["Properties"]["Events"]["EventsStream"];
    assert_eq!(mapping["Type"].as_str(), Some("DynamoDB"));
    let properties = &mapping["Properties"];
    assert_eq!(
        tagged_text(&properties["Stream"], "!GetAtt"),
        "EventsTable.StreamArn"
    );
    // Retried until published, in order, from the first record that failed: no on-failure skip.
    assert_eq!(properties["MaximumRetryAttempts"].as_i64(), Some(-1));
    assert_eq!(properties["MaximumRecordAgeInSeconds"].as_i64(), Some(-1));
    assert!(properties.get("DestinationConfig").is_none());
    assert_eq!(
        properties["FunctionResponseTypes"][0].as_str(),
        Some("ReportBatchItemFailures")
    );
}

/// The template's resources of `kind` (logical ids).
fn resources_of(template: &Value, kind: &str) -> Vec<String> {
    template["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(_, resource)| resource["Type"].as_str() == Some(kind))
        .map(|(id, _)| id.as_str().expect("logical ids are strings").to_owned())
        .collect()
}

/// The functions on MSK event source mappings (read from the template, so a new one is checked without being
/// listed here): one denormaliser per read model, and each process manager.
fn msk_consumers(template: &Value) -> Vec<String> {
    resources_of(template, "AWS::Serverless::Function")
        .into_iter()
        .filter(|function| {
            template["Resources"][function.as_str()]["Properties"]["Events"]
                .as_mapping()
                .is_some_and(|events| events.values().any(|e| e["Type"].as_str() == Some("MSK")))
        })
        .collect()
}

/// Every read model of the domain is deployed: a function on the events topic with `PROJECTION` naming it (a read
/// model added to the code without its function fails here, instead of never being projected in AWS).
#[test]
fn every_read_model_has_a_denormaliser_function() {
    let template = template();
    let projected: BTreeSet<String> = msk_consumers(&template)
        .iter()
        .filter_map(|function| {
            template["Resources"][function.as_str()]["Properties"]["Environment"]["Variables"]
                ["PROJECTION"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    let models: BTreeSet<String> = app::read_models()
        .iter()
        .map(|model| model.label())
        .collect();
    assert_eq!(
        projected, models,
        "read models and their denormaliser functions"
    );
}

#[test]
fn a_denormaliser_batch_is_retried_until_it_applies_never_skipped() {
    let template = template();
    let consumers = msk_consumers(&template);
    assert!(
        consumers.len() > 4,
        "the denormalisers and the transfer process: {consumers:?}"
    );
    for function in &consumers {
        let mapping = &template["Resources"][function.as_str()]["Properties"]["Events"]["Events"];
        assert_eq!(mapping["Type"].as_str(), Some("MSK"), "{function}");
        let properties = &mapping["Properties"];
        // No cap (Lambda's default for Kafka is -1, infinite) and no on-failure destination that would skip the
        // batch after the retries.
        assert!(
            properties.get("MaximumRetryAttempts").is_none()
                || properties["MaximumRetryAttempts"].as_i64() == Some(-1),
            "{function}"
        );
        assert!(properties.get("DestinationConfig").is_none(), "{function}");
        assert!(
            properties.get("MaximumRecordAgeInSeconds").is_none(),
            "{function}"
        );
    }
}

/// Every statement of a role (the template's inline policies), as (actions, resource texts).
fn role_statements(template: &Value, role: &str) -> Vec<(Vec<String>, String)> {
    let mut out = Vec::new();
    for policy in template["Resources"][role]["Properties"]["Policies"]
        .as_sequence()
        .unwrap_or_else(|| panic!("{role} has inline policies"))
    {
        for statement in policy["PolicyDocument"]["Statement"].as_sequence().unwrap() {
            let actions = match &statement["Action"] {
                Value::String(a) => vec![a.clone()],
                Value::Sequence(list) => list
                    .iter()
                    .map(|a| a.as_str().unwrap().to_owned())
                    .collect(),
                other => panic!("{role}: action {other:?}"),
            };
            out.push((actions, format!("{:?}", statement["Resource"])));
        }
    }
    out
}

#[test]
fn only_the_command_function_and_the_relay_may_write_the_events_topic() {
    let template = template();
    let roles = resources_of(&template, "AWS::IAM::Role");
    let writers: BTreeSet<&str> = roles
        .iter()
        .map(String::as_str)
        .filter(|role| {
            role_statements(&template, role)
                .iter()
                .any(|(actions, resource)| {
                    actions.iter().any(|a| a == "kafka-cluster:WriteData")
                        && resource.contains("${EventsTopic}")
                })
        })
        .collect();
    assert_eq!(writers, BTreeSet::from(["CommandRole", "RelayRole"]));
    // Each function runs with its own role, so no SAM-generated role (with AWS managed policies) exists.
    for function in resources_of(&template, "AWS::Serverless::Function") {
        let role = &template["Resources"][function.as_str()]["Properties"]["Role"];
        assert_eq!(
            tagged_text(role, "!GetAtt"),
            format!("{}.Arn", function.replace("Function", "Role")),
            "{function}"
        );
    }
}

/// Adding a read model or a process manager to the deployment is one name in its loop and one entry in Mappings: the
/// two agree, and the expansion makes each one's function, role, log group and alarms.
#[test]
fn each_loop_and_its_mappings_name_the_same_consumers() {
    let written = written_template();
    let template = template();
    let loops: [(&str, &[&str]); 4] = [
        (
            "ReadModels",
            &[
                "DenormaliserFunction",
                "DenormaliserRole",
                "DenormaliserLogGroup",
                "ProjectionBehindAlarm",
                "ProjectionLagAlarm",
            ],
        ),
        (
            "ProcessManagers",
            &["Function", "Role", "LogGroup", "BehindAlarm", "LagAlarm"],
        ),
        ("CommandRoutes", &["Route"]),
        ("QueryRoutes", &["Route"]),
    ];
    for (name, parts) in loops {
        let looped: BTreeSet<String> = written["Resources"]
            [format!("Fn::ForEach::{name}").as_str()][1]
            .as_sequence()
            .unwrap_or_else(|| panic!("Fn::ForEach::{name} lists its consumers"))
            .iter()
            .map(|item| item.as_str().expect("a name").to_owned())
            .collect();
        let mapped: BTreeSet<String> = written["Mappings"][name]
            .as_mapping()
            .unwrap_or_else(|| panic!("Mappings: {name}"))
            .keys()
            .map(|item| item.as_str().expect("a name").to_owned())
            .collect();
        assert_eq!(looped, mapped, "{name}: the loop and the mapping");
        for item in &looped {
            for part in parts.iter() {
                assert!(
                    !template["Resources"][format!("{item}{part}").as_str()].is_null(),
                    "{item}{part}"
                );
            }
        }
    }
}
