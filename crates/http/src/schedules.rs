//! The HTTP edge of the kit's schedules (`tributary-scheduler`), for any domain's scheduled commands: how a
//! schedule's refusals read as problems. A domain names what its schedules are called (`standing order`).

use crate::{Problem, Problems};
use axum::http::StatusCode;
use tributary_core::Decider;
use tributary_scheduler::{ScheduleRejection, Schedules};

/// The problems of schedule commands, for schedules called `noun` in messages.
#[derive(Debug, Clone, Copy)]
pub struct ScheduleProblems {
    pub noun: &'static str,
}

impl Problems<Schedules> for ScheduleProblems {
    fn noun(&self) -> &'static str {
        self.noun
    }
    fn rejected(&self, rejection: &ScheduleRejection) -> Problem {
        let (status, title) = match rejection {
            ScheduleRejection::NotScheduled => (StatusCode::NOT_FOUND, "Schedule not found"),
            ScheduleRejection::AlreadyScheduled => (StatusCode::CONFLICT, "Schedule exists"),
            ScheduleRejection::NotActive => (StatusCode::CONFLICT, "Schedule not active"),
            ScheduleRejection::NotPaused => (StatusCode::CONFLICT, "Schedule not paused"),
            ScheduleRejection::Ended => (StatusCode::CONFLICT, "Schedule ended"),
            ScheduleRejection::OutOfOrder => (StatusCode::CONFLICT, "Out of order"),
        };
        Problem::new(
            status,
            Schedules::rejection_code(rejection),
            title,
            format!("{}: {rejection}", self.noun),
        )
    }
    fn not_found(&self) -> Problem {
        self.rejected(&ScheduleRejection::NotScheduled)
    }
}
