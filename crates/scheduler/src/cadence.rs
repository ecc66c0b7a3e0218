//! When a schedule's occurrences fall: a start and, for a repeating schedule, a period (every n hours, days, weeks
//! or months), optionally until an end. Occurrence `k` is computed from the start, never from the occurrence
//! before it, so months do not drift: a schedule starting on the 31st falls on the last day of shorter months and
//! returns to the 31st.

use chrono::{DateTime, Datelike, Duration, Months, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The unit of a repeating schedule's period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Hour,
    Day,
    Week,
    Month,
}

/// Longest period, in units (about 83 years of months).
pub const MAX_INTERVAL: u32 = 1000;

/// When occurrences fall. JSON: `{"starting": "2027-01-01T09:00:00Z", "every": "month", "interval": 1,
/// "until": null}`; without `every`, one occurrence at `starting`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, try_from = "RawCadence")]
pub struct Cadence {
    /// The first occurrence.
    pub starting: DateTime<Utc>,
    /// The period's unit; absent: the schedule occurs once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<Unit>,
    /// Units per period (1 to 1,000; default 1).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub interval: u32,
    /// No occurrence after this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
}

fn one() -> u32 {
    1
}

fn one_whole() -> tributary_core::WholeNumber {
    tributary_core::WholeNumber(1)
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

/// Why a cadence was refused; safe to show to a caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidCadence {
    #[error("interval must be 1 to {MAX_INTERVAL}")]
    Interval,
    #[error("starting must be between the years 2000 and 2199")]
    Starting,
}

/// What a cadence's JSON holds, before it is checked (its schema is the cadence's).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Cadence")]
struct RawCadence {
    /// The first occurrence (between the years 2000 and 2199).
    starting: DateTime<Utc>,
    /// The period's unit; absent: the schedule occurs once.
    #[serde(default)]
    every: Option<Unit>,
    /// Units per period (default 1; `3` and `3.0` alike, as every number a JSON client sends).
    #[serde(default = "one_whole")]
    #[schemars(with = "u32", range(min = 1, max = 1000))]
    interval: tributary_core::WholeNumber,
    /// No occurrence after this.
    #[serde(default)]
    until: Option<DateTime<Utc>>,
}

impl TryFrom<RawCadence> for Cadence {
    type Error = InvalidCadence;
    fn try_from(raw: RawCadence) -> Result<Self, InvalidCadence> {
        let interval = u32::try_from(raw.interval.0).map_err(|_| InvalidCadence::Interval)?;
        Self::new(raw.starting, raw.every, interval, raw.until)
    }
}

impl Cadence {
    /// A validated cadence.
    pub fn new(
        starting: DateTime<Utc>,
        every: Option<Unit>,
        interval: u32,
        until: Option<DateTime<Utc>>,
    ) -> Result<Self, InvalidCadence> {
        if !(1..=MAX_INTERVAL).contains(&interval) {
            return Err(InvalidCadence::Interval);
        }
        // The documented range is 2000-2199 in the time given; a year of margin either side for its offset.
        if !(1999..=2200).contains(&starting.year()) {
            return Err(InvalidCadence::Starting);
        }
        Ok(Self {
            starting,
            every,
            interval,
            until,
        })
    }

    /// Once, at `at`.
    pub fn once(at: DateTime<Utc>) -> Self {
        Self {
            starting: at,
            every: None,
            interval: 1,
            until: None,
        }
    }

    /// Every `interval` `unit`s from `starting`.
    pub fn every(
        starting: DateTime<Utc>,
        unit: Unit,
        interval: u32,
    ) -> Result<Self, InvalidCadence> {
        Self::new(starting, Some(unit), interval, None)
    }

    /// When occurrence `index` falls (0 is `starting`); `None` past the last one.
    pub fn occurrence(&self, index: u64) -> Option<DateTime<Utc>> {
        let at = match self.every {
            None if index == 0 => Some(self.starting),
            None => None,
            Some(unit) => {
                let periods = index.checked_mul(u64::from(self.interval))?;
                match unit {
                    Unit::Month => self
                        .starting
                        .checked_add_months(Months::new(u32::try_from(periods).ok()?)),
                    fixed => {
                        let seconds = i64::try_from(periods)
                            .ok()?
                            .checked_mul(unit_seconds(fixed))?;
                        self.starting
                            .checked_add_signed(Duration::try_seconds(seconds)?)
                    }
                }
            }
        }?;
        // Occurrences after 2199 are none: the calendar arithmetic above stays far from chrono's limits.
        (self.until.is_none_or(|until| at <= until) && at.year() < 2200).then_some(at)
    }

    /// The first occurrence at or after `t`: its index and time; `None` if there is none.
    pub fn first_at_or_after(&self, t: DateTime<Utc>) -> Option<(u64, DateTime<Utc>)> {
        if t <= self.starting {
            return self.occurrence(0).map(|at| (0, at));
        }
        let unit = self.every?;
        // An estimate from below, then forward: at most a few steps (months differ in length).
        let estimate = match unit {
            Unit::Month => {
                let months = (i64::from(t.year()) - i64::from(self.starting.year())) * 12
                    + i64::from(t.month())
                    - i64::from(self.starting.month());
                (months.max(1) - 1) as u64 / u64::from(self.interval)
            }
            fixed => {
                let step = unit_seconds(fixed) * i64::from(self.interval);
                ((t - self.starting).num_seconds() / step).max(0) as u64
            }
        };
        let mut index = estimate.saturating_sub(1);
        loop {
            let at = self.occurrence(index)?;
            if at >= t {
                return Some((index, at));
            }
            index += 1;
        }
    }

    /// The last occurrence at or before `t`, if any.
    pub fn last_at_or_before(&self, t: DateTime<Utc>) -> Option<(u64, DateTime<Utc>)> {
        match self.first_at_or_after(t) {
            Some((index, at)) if at == t => Some((index, at)),
            Some((0, _)) => None,
            Some((index, _)) => self.occurrence(index - 1).map(|at| (index - 1, at)),
            // None at or after t: the last one there is, if it is not after t.
            None => {
                let mut last = None;
                let (mut low, mut high) = (0u64, 1u64);
                while self.occurrence(high).is_some_and(|at| at <= t) {
                    low = high;
                    high = high.saturating_mul(2);
                }
                if self.occurrence(low).is_some_and(|at| at <= t) {
                    last = Some(low);
                }
                // Binary search between the last known one and the first missing one.
                while last.is_some() && low + 1 < high {
                    let middle = low + (high - low) / 2;
                    if self.occurrence(middle).is_some_and(|at| at <= t) {
                        low = middle;
                        last = Some(middle);
                    } else {
                        high = middle;
                    }
                }
                last.and_then(|index| self.occurrence(index).map(|at| (index, at)))
            }
        }
    }
}

fn unit_seconds(unit: Unit) -> i64 {
    match unit {
        Unit::Hour => 3_600,
        Unit::Day => 86_400,
        Unit::Week => 7 * 86_400,
        Unit::Month => unreachable!("months are calendar arithmetic"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn months_clamp_to_the_month_end_and_do_not_drift() {
        let c = Cadence::every(at("2027-01-31T09:00:00Z"), Unit::Month, 1).unwrap();
        assert_eq!(c.occurrence(1), Some(at("2027-02-28T09:00:00Z")));
        assert_eq!(c.occurrence(2), Some(at("2027-03-31T09:00:00Z")));
        assert_eq!(
            c.first_at_or_after(at("2027-03-01T00:00:00Z")),
            Some((2, at("2027-03-31T09:00:00Z")))
        );
    }

    #[test]
    fn once_has_one_occurrence_and_until_ends_a_schedule() {
        let once = Cadence::once(at("2027-01-01T00:00:00Z"));
        assert_eq!(once.occurrence(1), None);
        assert_eq!(once.first_at_or_after(at("2027-01-01T00:00:01Z")), None);
        let daily = Cadence::new(
            at("2027-01-01T00:00:00Z"),
            Some(Unit::Day),
            1,
            Some(at("2027-01-03T00:00:00Z")),
        )
        .unwrap();
        assert_eq!(daily.occurrence(2), Some(at("2027-01-03T00:00:00Z")));
        assert_eq!(daily.occurrence(3), None);
        assert_eq!(
            daily.last_at_or_before(at("2030-01-01T00:00:00Z")),
            Some((2, at("2027-01-03T00:00:00Z")))
        );
    }

    #[test]
    fn json_is_validated() {
        let bad: Result<Cadence, _> = serde_json::from_str(
            r#"{"starting":"2027-01-01T00:00:00Z","every":"day","interval":0}"#,
        );
        assert!(bad.is_err());
        // An end before the start is a cadence with no occurrence (the edge refuses a schedule that never occurs).
        let never: Cadence = serde_json::from_str(
            r#"{"starting":"2027-01-02T00:00:00Z","until":"2027-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(never.occurrence(0), None);
        let good: Cadence =
            serde_json::from_str(r#"{"starting":"2027-01-01T00:00:00Z","every":"month"}"#).unwrap();
        assert_eq!(good.interval, 1);
        let whole: Cadence = serde_json::from_str(
            r#"{"starting":"2027-01-01T00:00:00Z","every":"day","interval":3.0}"#,
        )
        .unwrap();
        assert_eq!(whole.interval, 3);
        assert_eq!(
            serde_json::to_string(&good).unwrap(),
            r#"{"starting":"2027-01-01T00:00:00Z","every":"month"}"#
        );
    }

    fn cadence() -> impl Strategy<Value = Cadence> {
        (
            0i64..10 * 365 * 86_400,
            proptest::option::of(prop_oneof![
                Just(Unit::Hour),
                Just(Unit::Day),
                Just(Unit::Week),
                Just(Unit::Month)
            ]),
            1u32..40,
        )
            .prop_map(|(offset, every, interval)| {
                let start = at("2020-01-01T00:00:00Z") + Duration::seconds(offset);
                Cadence::new(start, every, interval, None).unwrap()
            })
    }

    proptest! {
        /// `first_at_or_after` agrees with walking the occurrences one by one.
        #[test]
        fn the_first_occurrence_after_a_time_is_the_one_a_walk_finds(c in cadence(), offset in -86_400i64..3 * 365 * 86_400) {
            let t = c.starting + Duration::seconds(offset);
            let walked = (0u64..100_000).map_while(|i| c.occurrence(i).map(|at| (i, at))).find(|(_, at)| *at >= t);
            prop_assert_eq!(c.first_at_or_after(t), walked);
            if let Some((index, at)) = c.last_at_or_before(t) {
                prop_assert!(at <= t);
                prop_assert!(c.occurrence(index + 1).is_none_or(|next| next > t));
            } else {
                prop_assert!(c.starting > t);
            }
        }
    }
}
