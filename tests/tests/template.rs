//! `template.yaml` agrees with the code: its tables have the shapes the event store uses.

use serde_norway::Value;
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
    }
}
