//! Metrics in CloudWatch Embedded Metric Format: one JSON line on stdout per data point, which Lambda's log
//! pipeline turns into CloudWatch metrics (alarms in `template.yaml` watch them). Outside Lambda the point is a log
//! line instead.

use serde_json::{json, Map, Value};

/// The CloudWatch namespace: `METRICS_NAMESPACE`, or `Tributary`.
fn namespace() -> String {
    crate::config::env_or("METRICS_NAMESPACE", "Tributary")
}

/// The EMF document for `value` of `metric` (unit Count), recorded both per `dimensions` and without dimensions
/// (so one alarm can watch the total).
pub fn count_document(
    namespace: &str,
    metric: &str,
    value: u64,
    dimensions: &[(&str, &str)],
    timestamp_ms: i64,
) -> Value {
    let names: Vec<&str> = dimensions.iter().map(|(name, _)| *name).collect();
    let mut document = Map::new();
    document.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [names, []],
                "Metrics": [{"Name": metric, "Unit": "Count"}],
            }],
        }),
    );
    for (name, value) in dimensions {
        document.insert((*name).to_owned(), Value::from(*value));
    }
    document.insert(metric.to_owned(), Value::from(value));
    Value::Object(document)
}

/// Record `value` of the counter `metric`.
pub fn count(metric: &str, value: u64, dimensions: &[(&str, &str)]) {
    if crate::logging::in_lambda() {
        let document = count_document(
            &namespace(),
            metric,
            value,
            dimensions,
            chrono::Utc::now().timestamp_millis(),
        );
        println!("{document}");
    } else {
        tracing::info!(metric, value, ?dimensions, "metric");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_follow_the_embedded_metric_format() {
        let doc = count_document(
            "Tributary/prod",
            "DeadLetters",
            3,
            &[("Consumer", "tributary-statement")],
            1,
        );
        assert_eq!(doc["DeadLetters"], 3);
        assert_eq!(doc["Consumer"], "tributary-statement");
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Tributary/prod");
        assert_eq!(directive["Dimensions"], json!([["Consumer"], []]));
        assert_eq!(
            directive["Metrics"][0],
            json!({"Name": "DeadLetters", "Unit": "Count"})
        );
        assert_eq!(doc["_aws"]["Timestamp"], 1);
    }
}
