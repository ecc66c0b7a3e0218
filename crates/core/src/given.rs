//! Given/when/then tests for a [`Decider`]: given the events so far, when a command arrives (from a caller), then
//! these events are decided — or this rejection. Pure: no I/O, no store, no clock; what a domain's own unit tests
//! use.
//!
//! ```
//! # use tributary_core::given::given;
//! # use tributary_core::{Decider, DomainEvent};
//! # use serde::{Deserialize, Serialize};
//! # #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
//! # enum Event { Counted(u32) }
//! # impl DomainEvent for Event { fn event_type(&self) -> &'static str { "Counted" } }
//! # #[derive(Debug, PartialEq, thiserror::Error)]
//! # #[error("too many")] struct TooMany;
//! # struct Counter;
//! # impl Decider for Counter {
//! #     type State = u32; type Command = u32; type Event = Event; type Rejection = TooMany;
//! #     fn initial() -> u32 { 0 }
//! #     fn evolve(state: u32, Event::Counted(n): &Event) -> u32 { state + n }
//! #     fn decide(state: &u32, n: &u32) -> Result<Vec<Event>, TooMany> {
//! #         if state + n > 10 { Err(TooMany) } else { Ok(vec![Event::Counted(*n)]) }
//! #     }
//! # }
//! given::<Counter>([Event::Counted(4)])
//!     .when(5)
//!     .then([Event::Counted(5)])
//!     .and_state(&9);
//! given::<Counter>([Event::Counted(4)]).when(7).then_rejected(TooMany);
//! ```

use crate::decider::Decider;
use std::fmt::Debug;

/// The history a scenario starts from: `D`'s events so far, oldest first.
pub fn given<D: Decider>(history: impl IntoIterator<Item = D::Event>) -> Given<D> {
    let history: Vec<D::Event> = history.into_iter().collect();
    let state = crate::decider::fold::<D>(&history);
    Given { history, state }
}

/// A scenario's history and the state it folds to.
pub struct Given<D: Decider> {
    history: Vec<D::Event>,
    state: D::State,
}

impl<D: Decider> Clone for Given<D> {
    fn clone(&self) -> Self {
        Self {
            history: self.history.clone(),
            state: self.state.clone(),
        }
    }
}

impl<D: Decider> Given<D> {
    /// The state the history folds to.
    pub fn state(&self) -> &D::State {
        &self.state
    }

    /// A command from a caller the aggregate does not check (as the command loop does when authorization is off).
    pub fn when(self, command: D::Command) -> When<D> {
        self.decide(None, command)
    }

    /// A command from `actor`: refused before any rule if [`Decider::may_command`] says the actor may not command
    /// an aggregate in this state.
    pub fn when_by(self, actor: &str, command: D::Command) -> When<D> {
        self.decide(Some(actor.to_owned()), command)
    }

    fn decide(self, actor: Option<String>, command: D::Command) -> When<D> {
        let outcome = match &actor {
            Some(actor) if !D::may_command(&self.state, actor, &command) => Outcome::NotAllowed,
            _ => match D::decide(&self.state, &command) {
                Ok(events) => Outcome::Decided(events),
                Err(rejection) => Outcome::Rejected(rejection),
            },
        };
        When {
            given: self,
            actor,
            command,
            outcome,
        }
    }
}

/// What the decider made of the command.
enum Outcome<D: Decider> {
    Decided(Vec<D::Event>),
    Rejected(D::Rejection),
    NotAllowed,
}

/// A scenario after its command: assert what was decided.
pub struct When<D: Decider> {
    given: Given<D>,
    actor: Option<String>,
    command: D::Command,
    outcome: Outcome<D>,
}

impl<D: Decider> When<D>
where
    D::Command: Debug,
    D::Event: Debug + PartialEq,
    D::Rejection: Debug,
{
    /// The command was accepted and decided exactly `expected`, in order.
    #[track_caller]
    pub fn then(self, expected: impl IntoIterator<Item = D::Event>) -> Then<D> {
        let expected: Vec<D::Event> = expected.into_iter().collect();
        match self.outcome {
            Outcome::Decided(ref events) if *events == expected => {}
            ref other => panic!(
                "{}\n  expected events: {expected:?}\n  got: {}",
                self.scenario(),
                describe::<D>(other)
            ),
        }
        // A decider is a pure function: the same state and command decide the same events every time.
        let again = D::decide(&self.given.state, &self.command);
        assert!(
            matches!(&again, Ok(events) if *events == expected),
            "{}\n  decide is not deterministic: first {expected:?}, then {}",
            self.scenario(),
            match &again {
                Ok(events) => format!("events {events:?}"),
                Err(rejection) => format!("rejection {rejection:?}"),
            }
        );
        let Outcome::Decided(events) = self.outcome else {
            unreachable!("checked above")
        };
        let state = events.iter().fold(self.given.state, D::evolve);
        let mut history = self.given.history;
        history.extend(events);
        Then { history, state }
    }

    /// The command was refused with exactly `expected`.
    #[track_caller]
    pub fn then_rejected(self, expected: D::Rejection)
    where
        D::Rejection: PartialEq,
    {
        if !matches!(&self.outcome, Outcome::Rejected(r) if *r == expected) {
            panic!(
                "{}\n  expected rejection: {expected:?}\n  got: {}",
                self.scenario(),
                describe::<D>(&self.outcome)
            );
        }
    }

    /// The command was refused with a rejection `check` accepts (for rejections that carry figures a test does not
    /// care about).
    #[track_caller]
    pub fn then_rejected_as(self, what: &str, check: impl Fn(&D::Rejection) -> bool) {
        if !matches!(&self.outcome, Outcome::Rejected(r) if check(r)) {
            panic!(
                "{}\n  expected rejection: {what}\n  got: {}",
                self.scenario(),
                describe::<D>(&self.outcome)
            );
        }
    }

    /// The actor may not command this aggregate: refused before any rule ([`Decider::may_command`]).
    #[track_caller]
    pub fn then_not_allowed(self) {
        if !matches!(self.outcome, Outcome::NotAllowed) {
            panic!(
                "{}\n  expected: the actor may not command it\n  got: {}",
                self.scenario(),
                describe::<D>(&self.outcome)
            );
        }
    }

    fn scenario(&self) -> String {
        let by = self
            .actor
            .as_deref()
            .map(|a| format!(" by {a:?}"))
            .unwrap_or_default();
        format!(
            "given {:?}\n  when {:?}{by}",
            self.given.history, self.command
        )
    }
}

fn describe<D: Decider>(outcome: &Outcome<D>) -> String
where
    D::Event: Debug,
    D::Rejection: Debug,
{
    match outcome {
        Outcome::Decided(events) => format!("events {events:?}"),
        Outcome::Rejected(rejection) => format!("rejection {rejection:?}"),
        Outcome::NotAllowed => "the actor may not command it".to_owned(),
    }
}

/// A scenario after an accepted command: its history now includes the decided events.
pub struct Then<D: Decider> {
    history: Vec<D::Event>,
    state: D::State,
}

impl<D: Decider> Then<D> {
    /// The state after the decided events.
    pub fn state(&self) -> &D::State {
        &self.state
    }

    /// The state after the decided events is `expected`.
    #[track_caller]
    pub fn and_state(self, expected: &D::State) -> Self
    where
        D::State: Debug + PartialEq,
    {
        assert_eq!(&self.state, expected, "the state after the decided events");
        self
    }

    /// Go on from here: the history so far, with the decided events, is the next scenario's given.
    pub fn and_given(self) -> Given<D> {
        Given {
            history: self.history,
            state: self.state,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::given;
    use crate::{Decider, DomainEvent};
    use serde::{Deserialize, Serialize};

    /// Counts up to 10; only "owner" may count once something was counted.
    struct Counter;
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Counted(u32);
    impl DomainEvent for Counted {
        fn event_type(&self) -> &'static str {
            "Counted"
        }
    }
    #[derive(Debug, PartialEq, thiserror::Error)]
    #[error("too many: {0}")]
    struct TooMany(u32);
    impl Decider for Counter {
        type State = u32;
        type Command = u32;
        type Event = Counted;
        type Rejection = TooMany;
        fn initial() -> u32 {
            0
        }
        fn may_command(state: &u32, actor: &str, _: &u32) -> bool {
            *state == 0 || actor == "owner"
        }
        fn evolve(state: u32, event: &Counted) -> u32 {
            state + event.0
        }
        fn decide(state: &u32, n: &u32) -> Result<Vec<Counted>, TooMany> {
            if state + n > 10 {
                Err(TooMany(state + n))
            } else {
                Ok(vec![Counted(*n)])
            }
        }
    }

    #[test]
    fn a_scenario_that_holds_passes_and_chains() {
        let then = given::<Counter>([Counted(2)])
            .when_by("owner", 3)
            .then([Counted(3)])
            .and_state(&5)
            .and_given()
            .when(5)
            .then([Counted(5)]);
        assert_eq!(*then.state(), 10);
        given::<Counter>([Counted(9)])
            .when(2)
            .then_rejected(TooMany(11));
        given::<Counter>([Counted(9)])
            .when(2)
            .then_rejected_as("TooMany", |r| r.0 > 10);
        given::<Counter>([Counted(1)])
            .when_by("stranger", 1)
            .then_not_allowed();
    }

    #[test]
    #[should_panic(expected = "expected events: [Counted(4)]")]
    fn other_events_fail_the_scenario() {
        given::<Counter>([]).when(3).then([Counted(4)]);
    }

    #[test]
    #[should_panic(expected = "got: rejection TooMany(11)")]
    fn a_rejection_where_events_were_expected_fails() {
        given::<Counter>([Counted(9)]).when(2).then([Counted(2)]);
    }

    #[test]
    #[should_panic(expected = "expected rejection: TooMany(12)")]
    fn another_rejection_fails() {
        given::<Counter>([Counted(9)])
            .when(2)
            .then_rejected(TooMany(12));
    }

    #[test]
    #[should_panic(expected = "got: events [Counted(1)]")]
    fn an_accepted_command_where_a_rejection_was_expected_fails() {
        given::<Counter>([]).when(1).then_rejected(TooMany(1));
    }

    #[test]
    #[should_panic(expected = "expected: the actor may not command it")]
    fn an_allowed_actor_where_a_refusal_was_expected_fails() {
        given::<Counter>([Counted(1)])
            .when_by("owner", 1)
            .then_not_allowed();
    }

    #[test]
    #[should_panic(expected = "got: the actor may not command it")]
    fn a_refused_actor_where_events_were_expected_fails() {
        given::<Counter>([Counted(1)])
            .when_by("stranger", 1)
            .then([Counted(1)]);
    }

    #[test]
    #[should_panic(expected = "the state after the decided events")]
    fn another_state_fails() {
        given::<Counter>([])
            .when(1)
            .then([Counted(1)])
            .and_state(&2);
    }
}
