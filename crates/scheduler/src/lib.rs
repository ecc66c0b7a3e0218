//! Time as an input, for any domain. A [`Schedules`] aggregate says what command to send and when (once, or on a
//! [`Cadence`]); its changes and every occurrence are events. [`ScheduleViews`] keeps the due index the
//! [`Scheduler`]'s sweep reads; the sweep sends each owed occurrence through the application's [`Dispatch`] under
//! a key derived from the schedule and the occurrence's time, so a timer that fires twice, late or after a crash
//! applies an occurrence at most once, and a sweep that comes back after an outage sends what it missed (the
//! catch-up policy: [`CatchUp`]).
//!
//! A process manager's deadline is a one-shot schedule set idempotently ([`set_deadline`]).
//!
//! The rules are stated in [`schedule`]; the deployed function is an EventBridge Scheduler rule invoking the sweep
//! every minute, the local stack runs the same sweep on a clock tests fast-forward.

pub mod cadence;
pub mod deadline;
pub mod index;
pub mod schedule;
pub mod sweep;

pub use cadence::{Cadence, InvalidCadence, Unit};
pub use deadline::{deadline_id, set_deadline};
pub use index::{due, listed, ScheduleView, ScheduleViews};
pub use schedule::{
    occurrence_key, CatchUp, Due, Outcome, ScheduleCommand, ScheduleEvent, ScheduleId,
    ScheduleRejection, ScheduleState, ScheduleStream, Schedules, Spec, Status, SCHEDULER,
};
pub use sweep::{Dispatch, DispatchError, Occurrence, Scheduler, SweepError, SweepReport};
