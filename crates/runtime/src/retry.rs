//! Waiting before trying again: one schedule for every loop that retries a batch, a write, a read or a connection —
//! exponential from `first`, doubling, capped at `longest` (`backon`'s). The command loop's conflict retries keep
//! their own decorrelated jitter (`tributary_aggregate::RetryPolicy`): writers racing for one hot aggregate must
//! spread out, and its figures are measured in BENCHMARKS.md.

use backon::{BackoffBuilder, ExponentialBuilder};
use std::time::Duration;

/// The pauses between attempts: `first`, then twice the one before, at most `longest`, for as long as asked.
pub fn pauses(first: Duration, longest: Duration) -> impl Iterator<Item = Duration> + Send {
    ExponentialBuilder::new()
        .with_min_delay(first)
        .with_max_delay(longest)
        .with_max_times(usize::MAX)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_longest_and_go_on() {
        let ms = Duration::from_millis;
        // backon multiplies in floating point: 40 ms comes out as 39.999999 ms. Whole milliseconds are the point.
        let seen: Vec<u128> = pauses(ms(10), ms(250))
            .take(8)
            .map(|pause| (pause.as_secs_f64() * 1000.0).round() as u128)
            .collect();
        assert_eq!(seen, [10, 20, 40, 80, 160, 250, 250, 250]);
    }
}
