//! The schedule decider against a model clock: sweepers that interleave step by step, crash between starting an
//! occurrence and sending it or between sending it and recording the answer, fire twice or late, while the owner
//! pauses, resumes, changes and cancels. Every occurrence is started at most once and sent only under its own key;
//! none is lost under the catch-up policy; nothing starts while paused or after a cancel.

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use tributary_core::Decider;
use tributary_scheduler::{
    occurrence_key, Cadence, CatchUp, Due, Outcome, ScheduleCommand, ScheduleEvent, ScheduleId,
    ScheduleState, Schedules, Spec, Unit,
};

/// The event store of one schedule: a conditional append on the version read.
#[derive(Default)]
struct Stream {
    events: Vec<ScheduleEvent>,
}

impl Stream {
    fn state(&self) -> (ScheduleState, usize) {
        (
            self.events
                .iter()
                .fold(Schedules::initial(), Schedules::evolve),
            self.events.len(),
        )
    }

    fn append(&mut self, expected: usize, events: Vec<ScheduleEvent>) -> bool {
        if self.events.len() != expected {
            return false;
        }
        self.events.extend(events);
        true
    }

    /// A command as the command handler runs it: decided on the latest state (it reloads after a conflict).
    fn handle(&mut self, command: &ScheduleCommand) -> bool {
        let (state, version) = self.state();
        match Schedules::decide(&state, command) {
            Ok(events) => self.append(version, events),
            Err(_) => false,
        }
    }
}

/// What a sweeper is doing.
#[derive(Debug, Clone)]
enum Phase {
    Idle,
    Loaded {
        state: ScheduleState,
        version: usize,
    },
    Sending(Due, serde_json::Value),
    Recording(Due, Outcome),
}

#[derive(Debug, Clone)]
enum Action {
    /// The clock moves on by this many minutes.
    Tick(i64),
    /// Sweeper `n` takes its next step.
    Step(usize),
    /// Sweeper `n` crashes (forgets what it was doing).
    Crash(usize),
    Pause,
    Resume,
    Cancel,
    Change,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (0i64..3 * 24 * 60).prop_map(Action::Tick),
        12 => (0usize..3).prop_map(Action::Step),
        2 => (0usize..3).prop_map(Action::Crash),
        1 => Just(Action::Pause),
        1 => Just(Action::Resume),
        1 => Just(Action::Change),
        1 => Just(Action::Cancel),
    ]
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

struct World {
    id: ScheduleId,
    now: DateTime<Utc>,
    stream: Stream,
    sweepers: Vec<Phase>,
    /// Every send the target received, by key (it applies a key once), and the command sent under each key.
    sends: BTreeMap<String, u32>,
    commands: BTreeMap<String, serde_json::Value>,
    /// Refusals the target gives: every third occurrence is refused.
    pauses: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)>,
    cancelled_at: Option<DateTime<Utc>>,
}

impl World {
    fn step(&mut self, n: usize) {
        let phase = std::mem::replace(&mut self.sweepers[n], Phase::Idle);
        self.sweepers[n] = match phase {
            Phase::Idle => {
                let (state, version) = self.stream.state();
                Phase::Loaded { state, version }
            }
            Phase::Loaded { state, version } => match &state {
                ScheduleState::Scheduled(s) => match s.in_flight {
                    // What the sweep sends: the command the occurrence started with.
                    Some(due) => Phase::Sending(
                        due,
                        s.in_flight_command
                            .clone()
                            .unwrap_or(s.spec.command.clone()),
                    ),
                    None => {
                        // Fire on what it read: a conditional append; lost to anyone who wrote since, it is decided
                        // again on the latest state (as the command handler retries a conflict).
                        let fire = ScheduleCommand::Fire { now: self.now };
                        if let Ok(events) = Schedules::decide(&state, &fire) {
                            if !self.stream.append(version, events) {
                                self.stream.handle(&fire);
                            }
                        }
                        Phase::Idle
                    }
                },
                ScheduleState::Unscheduled => Phase::Idle,
            },
            Phase::Sending(due, command) => {
                let key = occurrence_key(self.id, &due);
                *self.sends.entry(key.clone()).or_default() += 1;
                // Every send of an occurrence sends the same command, whatever changed since it started.
                let first = self.commands.entry(key.clone()).or_insert(command.clone());
                assert_eq!(*first, command, "{key} sent with two commands");
                let outcome = if due.index % 3 == 2 {
                    Outcome::Refused {
                        code: "insufficient-funds".to_owned(),
                    }
                } else {
                    Outcome::Applied
                };
                Phase::Recording(due, outcome)
            }
            Phase::Recording(due, outcome) => {
                // Out of order (another sweeper recorded it) is refused and fine.
                self.stream
                    .handle(&ScheduleCommand::Finish { due, outcome });
                Phase::Idle
            }
        };
    }

    /// A sweeper that runs until nothing is left to do at `now`.
    fn drain(&mut self) {
        self.sweepers.push(Phase::Idle);
        let n = self.sweepers.len() - 1;
        for _ in 0..10_000 {
            self.step(n);
            if let Phase::Idle = self.sweepers[n] {
                let (state, _) = self.stream.state();
                match state {
                    ScheduleState::Scheduled(s)
                        if s.in_flight.is_some() || s.owed(self.now).is_some() => {}
                    _ => return,
                }
            }
        }
        panic!("the drain did not finish");
    }
}

/// Whether `at` fell while the schedule was paused.
fn in_pause(pauses: &[(DateTime<Utc>, Option<DateTime<Utc>>)], at: DateTime<Utc>) -> bool {
    pauses
        .iter()
        .any(|(p, r)| at >= *p && r.is_none_or(|r| at < r))
}

fn cadence() -> impl Strategy<Value = Cadence> {
    (
        0i64..2 * 24 * 60,
        prop_oneof![
            Just(Unit::Hour),
            Just(Unit::Day),
            Just(Unit::Week),
            Just(Unit::Month)
        ],
        1u32..4,
        any::<bool>(),
    )
        .prop_map(|(offset, unit, interval, once)| {
            let start = at("2027-01-01T00:00:00Z") + Duration::minutes(offset);
            if once {
                Cadence::once(start)
            } else {
                Cadence::every(
                    start,
                    unit,
                    if unit == Unit::Hour {
                        interval * 7
                    } else {
                        interval
                    },
                )
                .unwrap()
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn every_occurrence_is_applied_at_most_once_and_none_is_lost(
        cadence in cadence(),
        latest in any::<bool>(),
        actions in proptest::collection::vec(action(), 1..120),
    ) {
        let created = at("2027-01-01T00:00:00Z");
        let mut world = World {
            id: ScheduleId::random(),
            now: created,
            stream: Stream::default(),
            sweepers: vec![Phase::Idle; 3],
            sends: BTreeMap::new(),
            commands: BTreeMap::new(),
            pauses: Vec::new(),
            cancelled_at: None,
        };
        let spec = Spec {
            kind: "standing-order".to_owned(),
            group: "account-a".to_owned(),
            owner: "ann".to_owned(),
            command: serde_json::json!({"amount": 1}),
            cadence: cadence.clone(),
            catch_up: if latest { CatchUp::Latest } else { CatchUp::Every },
        };
        let created_ok = world.stream.handle(&ScheduleCommand::Create { spec, now: created });
        prop_assert!(created_ok);
        let mut changes = 1;
        for action in actions {
            match action {
                Action::Tick(minutes) => world.now += Duration::minutes(minutes),
                Action::Step(n) => world.step(n),
                Action::Crash(n) => world.sweepers[n] = Phase::Idle,
                Action::Pause => {
                    if world.stream.handle(&ScheduleCommand::Pause { now: world.now }) {
                        world.pauses.push((world.now, None));
                    }
                }
                Action::Resume => {
                    if world.stream.handle(&ScheduleCommand::Resume { now: world.now }) {
                        world.pauses.last_mut().unwrap().1 = Some(world.now);
                    }
                }
                Action::Change => {
                    changes += 1;
                    world.stream.handle(&ScheduleCommand::Change { command: serde_json::json!({"amount": changes}) });
                }
                Action::Cancel => {
                    if world.stream.handle(&ScheduleCommand::Cancel { now: world.now }) {
                        world.cancelled_at = Some(world.now);
                    }
                }
            }
        }
        // The owner resumes what is paused; a sweeper comes and catches up.
        if world.stream.handle(&ScheduleCommand::Resume { now: world.now }) {
            world.pauses.last_mut().unwrap().1 = Some(world.now);
        }
        world.drain();

        let events = &world.stream.events;
        let mut started = Vec::new();
        let mut finished = Vec::new();
        let mut skipped = BTreeSet::new();
        let mut paused = false;
        let mut cancelled = false;
        for event in events {
            match event {
                ScheduleEvent::SchedulePaused { .. } => paused = true,
                ScheduleEvent::ScheduleResumed { .. } => paused = false,
                ScheduleEvent::ScheduleCancelled { .. } => cancelled = true,
                ScheduleEvent::OccurrenceStarted { due, .. } => {
                    prop_assert!(!paused && !cancelled, "started while paused or after a cancel: {events:?}");
                    started.push(due.index);
                }
                ScheduleEvent::OccurrenceFinished { due, .. } => finished.push(due.index),
                ScheduleEvent::OccurrencesSkipped { first, last, count } => {
                    prop_assert!(latest, "only `latest` skips");
                    // The range, less what pauses skipped.
                    let these: Vec<u64> = (*first..=*last)
                        .filter(|&i| !in_pause(&world.pauses, cadence.occurrence(i).unwrap()))
                        .collect();
                    prop_assert_eq!(these.len() as u64, *count);
                    skipped.extend(these);
                }
                _ => {}
            }
        }
        // Started at most once each, in order; each finished exactly once, in the order started; nothing left in
        // flight after the drain.
        prop_assert!(started.windows(2).all(|w| w[0] < w[1]), "{started:?}");
        prop_assert_eq!(&finished, &started);
        // The target saw exactly the started occurrences' keys (a resend repeats a key, never makes a new one).
        let keys: BTreeSet<String> = started
            .iter()
            .map(|&index| occurrence_key(world.id, &Due { index, at: cadence.occurrence(index).unwrap() }))
            .collect();
        prop_assert_eq!(keys, world.sends.keys().cloned().collect::<BTreeSet<_>>());

        // What was owed: every occurrence from the creation to now, except those that fell in a pause (and, once
        // cancelled, those after the cancel).
        let owed: BTreeSet<u64> = (0..10_000u64)
            .map_while(|i| cadence.occurrence(i).map(|at| (i, at)))
            .take_while(|(_, at)| *at <= world.now)
            .filter(|(_, at)| *at >= created)
            .filter(|(_, at)| !in_pause(&world.pauses, *at))
            .map(|(i, _)| i)
            .collect();
        // An occurrence due at the very instant of a pause was owed if it started before the pause was recorded,
        // skipped if not: either is right.
        let at_a_pause: BTreeSet<u64> = (0..10_000u64)
            .map_while(|i| cadence.occurrence(i).map(|at| (i, at)))
            .take_while(|(_, at)| *at <= world.now)
            .filter(|(_, at)| world.pauses.iter().any(|(p, _)| at == p))
            .map(|(i, _)| i)
            .collect();
        let owed: BTreeSet<u64> = owed.difference(&at_a_pause).copied().collect();
        let sent: BTreeSet<u64> = finished.iter().copied().filter(|i| !at_a_pause.contains(i)).collect();
        let skipped: BTreeSet<u64> = skipped.difference(&at_a_pause).copied().collect();
        prop_assert!(sent.is_subset(&owed), "sent {sent:?}, owed {owed:?}");
        prop_assert!(sent.is_disjoint(&skipped));
        match world.cancelled_at {
            // A cancel drops what was owed and not started; it never recalls what was.
            Some(_) => {}
            None => {
                let accounted: BTreeSet<u64> = sent.union(&skipped).copied().collect();
                prop_assert_eq!(&accounted, &owed, "owed occurrences lost (policy {:?})", latest);
                if latest {
                    // `latest` sends the newest one it owed at each sweep: the last owed one is sent.
                    prop_assert_eq!(sent.last(), owed.last());
                }
            }
        }
    }
}
