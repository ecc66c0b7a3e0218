//! Metrics in CloudWatch Embedded Metric Format (EMF): one JSON line on stdout per document, which Lambda's log
//! pipeline turns into CloudWatch metrics (the dashboard and alarms in `template.yaml` read them). Outside Lambda a
//! document is a debug log line instead, unless a [`Capture`] is collecting them (tests read the very lines Lambda
//! would print).
//!
//! No crate is used for this: EMF is one JSON object per line, and the crates that write it (for the `metrics`
//! facade) flush through their own Lambda service layer, which the HTTP and Kafka shells here would have to be
//! rebuilt around.

use serde_json::{json, Map, Value};
use std::sync::Mutex;

/// The unit of a metric, as CloudWatch names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// One value of one metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point<'a> {
    pub name: &'a str,
    pub unit: Unit,
    pub value: f64,
}

impl<'a> Point<'a> {
    pub fn count(name: &'a str, value: u64) -> Self {
        Self {
            name,
            unit: Unit::Count,
            value: value as f64,
        }
    }

    pub fn millis(name: &'a str, value: i64) -> Self {
        Self {
            name,
            unit: Unit::Milliseconds,
            value: value.max(0) as f64,
        }
    }
}

/// The CloudWatch namespace: `METRICS_NAMESPACE`, or `Tributary`.
fn namespace() -> String {
    crate::config::env_or("METRICS_NAMESPACE", "Tributary")
}

/// The EMF document for `points`, recorded both per `dimensions` and without dimensions (so one alarm can watch
/// the total).
pub fn document(
    namespace: &str,
    points: &[Point<'_>],
    dimensions: &[(&str, &str)],
    timestamp_ms: i64,
) -> Value {
    let names: Vec<&str> = dimensions.iter().map(|(name, _)| *name).collect();
    let dimension_sets = if names.is_empty() {
        json!([[]])
    } else {
        json!([names, []])
    };
    let metrics: Vec<Value> = points
        .iter()
        .map(|p| json!({"Name": p.name, "Unit": p.unit.name()}))
        .collect();
    let mut document = Map::new();
    document.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": dimension_sets,
                "Metrics": metrics,
            }],
        }),
    );
    for (name, value) in dimensions {
        document.insert((*name).to_owned(), Value::from(*value));
    }
    for point in points {
        let value = if point.value.fract() == 0.0 && point.value.abs() < 9.0e15 {
            Value::from(point.value as i64)
        } else {
            Value::from(point.value)
        };
        document.insert(point.name.to_owned(), value);
    }
    Value::Object(document)
}

/// Record `points` (one document) for `dimensions`. Nothing is written for no points.
pub fn record(points: &[Point<'_>], dimensions: &[(&str, &str)]) {
    if points.is_empty() {
        return;
    }
    let line = || {
        document(
            &namespace(),
            points,
            dimensions,
            chrono::Utc::now().timestamp_millis(),
        )
        .to_string()
    };
    if let Some(lines) = CAPTURED.lock().expect("not poisoned").as_mut() {
        lines.push(line());
        return;
    }
    if crate::logging::in_lambda() {
        println!("{}", line());
    } else {
        tracing::debug!(?points, ?dimensions, "metric");
    }
}

/// Record `value` of the counter `metric`.
pub fn count(metric: &str, value: u64, dimensions: &[(&str, &str)]) {
    record(&[Point::count(metric, value)], dimensions)
}

static CAPTURED: Mutex<Option<Vec<String>>> = Mutex::new(None);

/// While it lives, every document this process records is kept (as the line Lambda would print) instead of being
/// written: a test's view of the metrics of the code it drives. One at a time per process.
pub struct Capture(());

impl Capture {
    /// Start collecting.
    pub fn start() -> Self {
        *CAPTURED.lock().expect("not poisoned") = Some(Vec::new());
        Capture(())
    }

    /// The lines recorded so far.
    pub fn lines(&self) -> Vec<String> {
        CAPTURED
            .lock()
            .expect("not poisoned")
            .clone()
            .unwrap_or_default()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        *CAPTURED.lock().expect("not poisoned") = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_follow_the_embedded_metric_format() {
        let doc = document(
            "Tributary/prod",
            &[
                Point::count("DeadLetters", 3),
                Point::millis("ProjectionLag", 1250),
            ],
            &[("Consumer", "tributary-statement")],
            1,
        );
        assert_eq!(doc["DeadLetters"], 3);
        assert_eq!(doc["ProjectionLag"], 1250);
        assert_eq!(doc["Consumer"], "tributary-statement");
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Tributary/prod");
        assert_eq!(directive["Dimensions"], json!([["Consumer"], []]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "DeadLetters", "Unit": "Count"}, {"Name": "ProjectionLag", "Unit": "Milliseconds"}])
        );
        assert_eq!(doc["_aws"]["Timestamp"], 1);
    }

    #[test]
    fn a_metric_without_dimensions_has_one_empty_dimension_set() {
        let doc = document("Tributary", &[Point::count("AppendConflicts", 1)], &[], 1);
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
    }

    #[test]
    fn a_capture_keeps_the_lines_lambda_would_print() {
        let capture = Capture::start();
        count("Commands", 2, &[("Outcome", "committed")]);
        record(&[], &[]);
        let lines = capture.lines();
        assert_eq!(lines.len(), 1);
        let doc: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(doc["Commands"], 2);
        assert_eq!(doc["Outcome"], "committed");
    }
}
