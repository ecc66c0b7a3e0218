//! The second example domain, beside the bank and not about money: a task is created by its owner, assigned to
//! someone, and completed by its owner or its assignee. Pure: the Decider ([`Task`]) and the read model that shows a
//! task ([`TaskViews`]); no I/O. Its HTTP edge is `tasks-api`.

mod task;
mod view;

pub use task::{
    InvalidTitle, Task, TaskCommand, TaskEvent, TaskId, TaskRejection, TaskState, TaskStream,
    Title, STREAM_PREFIX,
};
pub use view::{task_view_key, TaskView, TaskViews};
