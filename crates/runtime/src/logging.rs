//! Process setup shared by every function: logs as Lambda wants them (JSON) or as a person reads them, with a
//! filter from `RUST_LOG` or Lambda's log level.

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Whether this process runs inside AWS Lambda.
pub fn in_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

/// Logs: JSON in Lambda (CloudWatch, with the JSON log format), human-readable elsewhere. The filter is
/// `RUST_LOG` (`level` or `target=level,...`), else Lambda's application log level (`AWS_LAMBDA_LOG_LEVEL`), else
/// `info`. Then span export, where `OTEL_EXPORTER_OTLP_ENDPOINT` configures it ([`crate::spans`]).
pub fn init_tracing() {
    let (filter, problem) = log_filter(
        std::env::var("RUST_LOG").ok().as_deref(),
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref(),
    );
    let registry = tracing_subscriber::registry().with(filter);
    let result = if in_lambda() {
        registry.with(json_layer(std::io::stdout)).try_init()
    } else {
        registry.with(tracing_subscriber::fmt::layer()).try_init()
    };
    // A second call (tests, devstack embedding a function) keeps the first subscriber.
    if result.is_ok() {
        if let Some(problem) = problem {
            tracing::warn!("{problem}");
        }
    }
    // Spans to a collector, where one is configured; a configuration that cannot work is said at start, and the
    // function runs on (its traces stay in the logs).
    match crate::spans::init_from_env() {
        Ok(true) => tracing::info!("spans are exported over OTLP/HTTP"),
        Ok(false) => {}
        Err(error) => tracing::warn!("{error}; spans are not exported"),
    }
}

/// The JSON log lines of Lambda, written to `writer`: one object per event, with the fields of every span it
/// happened in (`spans`: so a command's or a record's `trace_id` is on each line logged while handling it). No time:
/// CloudWatch stamps each line.
pub fn json_layer<S, W>(writer: W) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .json()
        .without_time()
        .with_current_span(false)
        .with_span_list(true)
        .with_writer(writer)
}

/// The log filter from `RUST_LOG` or Lambda's log level, and what was wrong with them if they could not be used.
fn log_filter(rust_log: Option<&str>, lambda_level: Option<&str>) -> (Targets, Option<String>) {
    let default = Targets::new().with_default(tracing::Level::INFO);
    match (rust_log, lambda_level) {
        (Some(spec), _) if !spec.trim().is_empty() => match without_spaces(spec).parse() {
            Ok(filter) => (filter, None),
            Err(e) => (
                default,
                Some(format!(
                    "RUST_LOG={spec:?} is not `level` or `target=level,...` ({e}); logging at info"
                )),
            ),
        },
        // Lambda's levels are TRACE, DEBUG, INFO, WARN, ERROR and FATAL; tracing has no FATAL.
        (_, Some(level)) => match level.replace("FATAL", "ERROR").parse::<tracing::Level>() {
            Ok(level) => (Targets::new().with_default(level), None),
            Err(_) => (
                default,
                Some(format!(
                    "AWS_LAMBDA_LOG_LEVEL={level:?} is not a log level; logging at info"
                )),
            ),
        },
        _ => (default, None),
    }
}

/// `a=debug, b=warn` as `a=debug,b=warn` (a space would otherwise become part of a target name).
fn without_spaces(spec: &str) -> String {
    spec.split(',')
        .map(str::trim)
        .filter(|directive| !directive.is_empty())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::log_filter;
    use tracing::Level;

    #[test]
    fn rust_log_wins_then_the_lambda_level_then_info() {
        let (filter, problem) = log_filter(Some("warn, tributary_kafka=debug"), Some("ERROR"));
        assert!(problem.is_none());
        assert!(filter.would_enable("tributary_kafka::publisher", &Level::DEBUG));
        assert!(!filter.would_enable("aws_config", &Level::INFO));

        let (filter, _) = log_filter(None, Some("DEBUG"));
        assert!(filter.would_enable("anything", &Level::DEBUG));
        assert!(!filter.would_enable("anything", &Level::TRACE));

        let (filter, problem) = log_filter(None, Some("FATAL"));
        assert!(problem.is_none());
        assert!(filter.would_enable("anything", &Level::ERROR));
        assert!(!filter.would_enable("anything", &Level::WARN));

        let (filter, problem) = log_filter(None, None);
        assert!(problem.is_none());
        assert!(filter.would_enable("anything", &Level::INFO));
        assert!(!filter.would_enable("anything", &Level::DEBUG));
    }

    #[test]
    fn an_unusable_filter_is_reported_and_info_is_used() {
        let (filter, problem) = log_filter(Some("tributary=loud"), None);
        assert!(problem.expect("reported").contains("RUST_LOG"));
        assert!(filter.would_enable("anything", &Level::INFO));

        let (_, problem) = log_filter(None, Some("LOUD"));
        assert!(problem.expect("reported").contains("AWS_LAMBDA_LOG_LEVEL"));
    }
}
