//! `template.yaml` agrees with the code: its tables have the shapes the event store uses.

use serde_norway::Value;
use std::collections::BTreeSet;
use tributary_dynamodb::tables::{self, TableSpec};

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    serde_norway::from_str(&std::fs::read_to_string(path).expect("template.yaml exists"))
        .expect("template.yaml is YAML")
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
    let command = command_function::route_table()
        .into_iter()
        .map(|r| (r.method, r.path, "CommandFunction"));
    let query = query_function::route_table()
        .into_iter()
        .map(|r| (r.method, r.path, "QueryFunction"));
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

/// The functions on MSK event source mappings: one denormaliser per read model, and the transfer process manager.
const DENORMALISERS: [&str; 5] = [
    "SummaryDenormaliserFunction",
    "StatementDenormaliserFunction",
    "OwnersDenormaliserFunction",
    "TransfersDenormaliserFunction",
    "TransferProcessFunction",
];

#[test]
fn a_denormaliser_batch_is_retried_until_it_applies_never_skipped() {
    let template = template();
    for function in DENORMALISERS {
        let mapping = &template["Resources"][function]["Properties"]["Events"]["Events"];
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
    let writers: BTreeSet<&str> = [
        "CommandRole",
        "RelayRole",
        "SummaryDenormaliserRole",
        "StatementDenormaliserRole",
        "OwnersDenormaliserRole",
        "TransfersDenormaliserRole",
        "TransferProcessRole",
        "QueryRole",
    ]
    .into_iter()
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
    for function in
        DENORMALISERS
            .iter()
            .chain(&["CommandFunction", "RelayFunction", "QueryFunction"])
    {
        let role = &template["Resources"][*function]["Properties"]["Role"];
        assert_eq!(
            tagged_text(role, "!GetAtt"),
            format!("{}.Arn", function.replace("Function", "Role")),
            "{function}"
        );
    }
}
