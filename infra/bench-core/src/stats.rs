//! Small helpers the benchmark harnesses share: percentiles of sorted samples, durations in milliseconds.

use std::time::Duration;

/// The `p` quantile (0.0-1.0) of `sorted` (nearest rank). Panics on an empty slice.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// A duration in (fractional) milliseconds.
pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
