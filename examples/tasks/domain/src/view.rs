//! The read model of tasks: one item per task, its view, which is also the projection's checkpoint (the version it
//! has applied travels with it, like the bank's account summary).

use crate::task::{TaskEvent, TaskId};
use serde::{Deserialize, Serialize};
use tributary_core::{ItemKey, Projection, RecordedEvent, Row};

/// The task view read model (`task-view`; consumer group `tributary-task-view`).
#[derive(Debug, Clone, Copy, Default)]
pub struct TaskViews;

/// Key of a task's view.
pub fn task_view_key(task_id: &str) -> ItemKey {
    ItemKey::new(format!("task#{task_id}"), "view")
}

/// A task as `GET /tasks/{id}` shows it (its schema in the OpenAPI document is generated from this type).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TaskView {
    pub task_id: String,
    /// Who created it (they and its assignee may read it; anyone else is told it does not exist).
    pub owner: String,
    pub title: String,
    pub assignee: Option<String>,
    /// `open` or `done`.
    #[schemars(regex(pattern = "^(open|done)$"))]
    pub status: String,
    pub completed_by: Option<String>,
    pub version: u64,
    /// When the last applied event happened (RFC 3339).
    pub updated_at: String,
}

impl TaskView {
    /// Whether `principal` is the task's owner or its assignee.
    pub fn involves(&self, principal: &str) -> bool {
        self.owner == principal || self.assignee.as_deref() == Some(principal)
    }
}

impl Projection for TaskViews {
    type Event = TaskEvent;
    type State = TaskView;

    fn name(&self) -> &'static str {
        "task-view"
    }
    fn entity<'s>(&self, stream_id: &'s str) -> Option<&'s str> {
        TaskId::of_stream(stream_id)
    }
    fn checkpoint_key(&self, task_id: &str) -> ItemKey {
        task_view_key(task_id)
    }
    fn step(
        &self,
        task_id: &str,
        state: Option<TaskView>,
        event: &RecordedEvent<TaskEvent>,
        _rows: &mut Vec<Row>,
    ) -> Option<TaskView> {
        let updated_at = event.metadata.occurred_at.to_rfc3339();
        let view = match (state, &event.event) {
            (None, TaskEvent::TaskCreated { owner, title }) => TaskView {
                task_id: task_id.to_owned(),
                owner: owner.as_str().to_owned(),
                title: title.as_str().to_owned(),
                assignee: None,
                status: "open".to_owned(),
                completed_by: None,
                version: event.version,
                updated_at,
            },
            // A stream that does not start with its creation does not fold: dead-lettered.
            (None, _) | (Some(_), TaskEvent::TaskCreated { .. }) => return None,
            (Some(view), TaskEvent::TaskAssigned { assignee }) => TaskView {
                assignee: Some(assignee.as_str().to_owned()),
                version: event.version,
                updated_at,
                ..view
            },
            (Some(view), TaskEvent::TaskCompleted { by }) => TaskView {
                status: "done".to_owned(),
                completed_by: Some(by.as_str().to_owned()),
                version: event.version,
                updated_at,
                ..view
            },
        };
        Some(view)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::{TaskCommand, Title};
    use crate::Task;
    use tributary_core::{Decider, DomainEvent, EventMetadata, Principal};

    fn recorded(version: u64, event: TaskEvent) -> RecordedEvent<TaskEvent> {
        RecordedEvent {
            stream_id: "task-t".to_owned(),
            version,
            event_type: event.event_type().to_owned(),
            schema_version: event.schema_version(),
            event,
            metadata: EventMetadata {
                event_id: uuid::Uuid::nil(),
                command_id: uuid::Uuid::nil(),
                correlation_id: "c".to_owned(),
                causation_id: "c".to_owned(),
                occurred_at: chrono::Utc::now(),
                actor: "ann".to_owned(),
                idempotency_key: None,
                request_fingerprint: None,
                traceparent: None,
            },
        }
    }

    /// The view folds the events the Decider decides, and refuses a stream that does not start with a creation.
    #[test]
    fn the_view_follows_the_task() {
        let ann = Principal::parse("ann").unwrap();
        let bob = Principal::parse("bob").unwrap();
        let mut state = Task::initial();
        let mut view = None;
        let commands = [
            TaskCommand::Create {
                owner: ann.clone(),
                title: Title::parse("file the report").unwrap(),
            },
            TaskCommand::Assign {
                assignee: bob.clone(),
            },
            TaskCommand::Complete { by: bob.clone() },
        ];
        let mut version = 0;
        for command in &commands {
            for event in Task::decide(&state, command).unwrap() {
                version += 1;
                state = Task::evolve(state, &event);
                view = TaskViews.step("t", view, &recorded(version, event), &mut Vec::new());
                assert!(view.is_some());
            }
        }
        let view = view.unwrap();
        assert_eq!(view.status, "done");
        assert_eq!(view.assignee.as_deref(), Some("bob"));
        assert_eq!(view.completed_by.as_deref(), Some("bob"));
        assert_eq!(view.version, 3);
        assert!(view.involves("ann") && view.involves("bob") && !view.involves("eve"));
        let orphan = recorded(1, TaskEvent::TaskAssigned { assignee: bob });
        assert_eq!(TaskViews.step("t", None, &orphan, &mut Vec::new()), None);
    }
}
