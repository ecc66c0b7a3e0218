//! The task aggregate: its commands, events, state and rules, tied together by the [`Task`] Decider.

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize};
use std::borrow::Cow;
use tributary_core::{Decider, DomainEvent, Id, IdKind, Principal};
use uuid::Uuid;

/// Prefix of tasks' streams in the event store.
pub const STREAM_PREFIX: &str = "task-";

/// The kind of task ids: `task-<uuid>` streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TaskStream {}

impl IdKind for TaskStream {
    const NOUN: &'static str = "task";
    const STREAM_PREFIX: &'static str = STREAM_PREFIX;
    // A fixed namespace for task ids derived from a caller and an idempotency key.
    const NAMESPACE: Uuid = Uuid::from_u128(0x2c5f_9a71_0e3b_5d48_a1c6_7f20_94be_3d15);
}

/// Identity of a task.
pub type TaskId = Id<TaskStream>;

/// Longest title, in characters.
const MAX_TITLE_CHARS: usize = 200;

/// A task's title: 1 to 200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Title(String);

/// Why a title was refused; safe to show to a caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a title is 1 to {MAX_TITLE_CHARS} characters without control characters")]
pub struct InvalidTitle;

impl Title {
    pub fn parse(raw: &str) -> Result<Self, InvalidTitle> {
        let chars = raw.chars().count();
        if chars == 0 || chars > MAX_TITLE_CHARS || raw.chars().any(char::is_control) {
            return Err(InvalidTitle);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What [`Title::parse`] accepts, as a JSON Schema (the API documents and Schemathesis hold the server to it).
impl JsonSchema for Title {
    fn schema_name() -> Cow<'static, str> {
        "Title".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_TITLE_CHARS,
            "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
        })
    }
}

impl<'de> Deserialize<'de> for Title {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// What a caller may ask of a task. Principals are authenticated callers, never values of a request body, except
/// the assignee (whom the owner names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskCommand {
    Create { owner: Principal, title: Title },
    Assign { assignee: Principal },
    Complete { by: Principal },
}

/// What happened to a task. The serialised form is the stored and published payload; its schema (the AsyncAPI
/// messages) is generated from this type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum TaskEvent {
    TaskCreated { owner: Principal, title: Title },
    TaskAssigned { assignee: Principal },
    TaskCompleted { by: Principal },
}

impl DomainEvent for TaskEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::TaskCreated { .. } => "TaskCreated",
            Self::TaskAssigned { .. } => "TaskAssigned",
            Self::TaskCompleted { .. } => "TaskCompleted",
        }
    }
}

/// A task as its events leave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TaskState {
    /// Nothing created in this stream yet.
    Uncreated,
    Open {
        owner: Principal,
        title: Title,
        assignee: Option<Principal>,
    },
    Done {
        owner: Principal,
        title: Title,
        assignee: Option<Principal>,
        completed_by: Principal,
    },
}

impl TaskState {
    /// Who created the task (none before it is).
    pub fn owner(&self) -> Option<&Principal> {
        match self {
            Self::Uncreated => None,
            Self::Open { owner, .. } | Self::Done { owner, .. } => Some(owner),
        }
    }

    /// Who it is assigned to, if anyone.
    pub fn assignee(&self) -> Option<&Principal> {
        match self {
            Self::Uncreated => None,
            Self::Open { assignee, .. } | Self::Done { assignee, .. } => assignee.as_ref(),
        }
    }
}

/// Why a task command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskRejection {
    #[error("no such task")]
    NotCreated,
    #[error("a task with this id already exists")]
    AlreadyCreated,
    #[error("the task is completed")]
    Completed,
}

/// The task Decider.
pub struct Task;

impl Decider for Task {
    type State = TaskState;
    type Command = TaskCommand;
    type Event = TaskEvent;
    type Rejection = TaskRejection;

    fn initial() -> TaskState {
        TaskState::Uncreated
    }

    /// Anyone may create a task (its owner is who creates it); only its owner assigns it; its owner or its
    /// assignee completes it. Anyone else is told it does not exist.
    fn may_command(state: &TaskState, actor: &str, command: &TaskCommand) -> bool {
        let Some(owner) = state.owner() else {
            return true;
        };
        owner.as_str() == actor
            || (matches!(command, TaskCommand::Complete { .. })
                && state.assignee().is_some_and(|a| a.as_str() == actor))
    }

    fn rejection_code(rejection: &TaskRejection) -> &'static str {
        match rejection {
            TaskRejection::NotCreated => "task-not-found",
            TaskRejection::AlreadyCreated => "task-already-exists",
            TaskRejection::Completed => "task-completed",
        }
    }

    fn evolve(state: TaskState, event: &TaskEvent) -> TaskState {
        match (state, event) {
            (TaskState::Uncreated, TaskEvent::TaskCreated { owner, title }) => TaskState::Open {
                owner: owner.clone(),
                title: title.clone(),
                assignee: None,
            },
            (TaskState::Open { owner, title, .. }, TaskEvent::TaskAssigned { assignee }) => {
                TaskState::Open {
                    owner,
                    title,
                    assignee: Some(assignee.clone()),
                }
            }
            (
                TaskState::Open {
                    owner,
                    title,
                    assignee,
                },
                TaskEvent::TaskCompleted { by },
            ) => TaskState::Done {
                owner,
                title,
                assignee,
                completed_by: by.clone(),
            },
            // Events only ever follow the decisions above; anything else leaves the state as it was.
            (state, _) => state,
        }
    }

    fn decide(state: &TaskState, command: &TaskCommand) -> Result<Vec<TaskEvent>, TaskRejection> {
        match (state, command) {
            (TaskState::Uncreated, TaskCommand::Create { owner, title }) => {
                Ok(vec![TaskEvent::TaskCreated {
                    owner: owner.clone(),
                    title: title.clone(),
                }])
            }
            (_, TaskCommand::Create { .. }) => Err(TaskRejection::AlreadyCreated),
            (TaskState::Uncreated, _) => Err(TaskRejection::NotCreated),
            (TaskState::Done { .. }, _) => Err(TaskRejection::Completed),
            (TaskState::Open { .. }, TaskCommand::Assign { assignee }) => {
                Ok(vec![TaskEvent::TaskAssigned {
                    assignee: assignee.clone(),
                }])
            }
            (TaskState::Open { .. }, TaskCommand::Complete { by }) => {
                Ok(vec![TaskEvent::TaskCompleted { by: by.clone() }])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tributary_core::given::given;

    fn who(name: &str) -> Principal {
        Principal::parse(name).unwrap()
    }

    fn title() -> Title {
        Title::parse("water the plants").unwrap()
    }

    fn created() -> TaskEvent {
        TaskEvent::TaskCreated {
            owner: who("ann"),
            title: title(),
        }
    }

    #[test]
    fn a_task_is_created_assigned_and_completed() {
        given::<Task>([])
            .when(TaskCommand::Create {
                owner: who("ann"),
                title: title(),
            })
            .then([created()]);
        given::<Task>([created()])
            .when(TaskCommand::Assign {
                assignee: who("bob"),
            })
            .then([TaskEvent::TaskAssigned {
                assignee: who("bob"),
            }]);
        given::<Task>([
            created(),
            TaskEvent::TaskAssigned {
                assignee: who("bob"),
            },
        ])
        .when(TaskCommand::Complete { by: who("bob") })
        .then([TaskEvent::TaskCompleted { by: who("bob") }])
        .and_state(&TaskState::Done {
            owner: who("ann"),
            title: title(),
            assignee: Some(who("bob")),
            completed_by: who("bob"),
        });
    }

    #[test]
    fn what_a_task_refuses() {
        given::<Task>([])
            .when(TaskCommand::Assign {
                assignee: who("bob"),
            })
            .then_rejected(TaskRejection::NotCreated);
        given::<Task>([created()])
            .when(TaskCommand::Create {
                owner: who("eve"),
                title: title(),
            })
            .then_rejected(TaskRejection::AlreadyCreated);
        given::<Task>([created(), TaskEvent::TaskCompleted { by: who("ann") }])
            .when(TaskCommand::Assign {
                assignee: who("bob"),
            })
            .then_rejected(TaskRejection::Completed);
    }

    #[test]
    fn who_may_command_a_task() {
        let open = TaskState::Open {
            owner: who("ann"),
            title: title(),
            assignee: Some(who("bob")),
        };
        let assign = TaskCommand::Assign {
            assignee: who("eve"),
        };
        let complete = TaskCommand::Complete { by: who("bob") };
        assert!(Task::may_command(&open, "ann", &assign));
        assert!(
            !Task::may_command(&open, "bob", &assign),
            "an assignee does not reassign"
        );
        assert!(Task::may_command(&open, "bob", &complete));
        assert!(
            !Task::may_command(&open, "eve", &complete),
            "a stranger commands nothing"
        );
        assert!(Task::may_command(&TaskState::Uncreated, "eve", &assign));
    }

    #[test]
    fn titles() {
        assert!(Title::parse("x").is_ok());
        assert_eq!(Title::parse(""), Err(InvalidTitle));
        assert_eq!(Title::parse("a\nb"), Err(InvalidTitle));
        assert!(Title::parse(&"é".repeat(200)).is_ok());
        assert_eq!(Title::parse(&"é".repeat(201)), Err(InvalidTitle));
        assert!(serde_json::from_str::<Title>("\"\"").is_err());
    }

    fn command() -> impl Strategy<Value = TaskCommand> {
        let person = prop::sample::select(vec!["ann", "bob", "eve"]).prop_map(who);
        prop_oneof![
            person.clone().prop_map(|owner| TaskCommand::Create {
                owner,
                title: title()
            }),
            person
                .clone()
                .prop_map(|assignee| TaskCommand::Assign { assignee }),
            person.prop_map(|by| TaskCommand::Complete { by }),
        ]
    }

    proptest! {
        /// Whatever commands arrive: a task is created once, never changes after it is done, and its owner never
        /// changes; the state is always the fold of the events decided.
        #[test]
        fn a_task_is_created_once_and_stays_done(commands in prop::collection::vec(command(), 0..20)) {
            let mut events = Vec::new();
            let mut state = Task::initial();
            for command in &commands {
                let before = state.clone();
                if let Ok(decided) = Task::decide(&state, command) {
                    if matches!(before, TaskState::Done { .. }) {
                        prop_assert!(decided.is_empty(), "a done task changed");
                    }
                    for event in decided {
                        state = Task::evolve(state, &event);
                        events.push(event);
                    }
                }
                if let Some(owner) = before.owner() {
                    prop_assert_eq!(Some(owner), state.owner());
                }
            }
            let created = events.iter().filter(|e| matches!(e, TaskEvent::TaskCreated { .. })).count();
            prop_assert!(created <= 1);
            prop_assert_eq!(tributary_core::fold::<Task>(&events), state);
        }
    }
}
