//! The tasks example over HTTP, on the kit's edge: which routes it has, how a request becomes a command, and how
//! its refusals read as problems. Everything else — headers, idempotency, `If-Match`, `ETag`/`Location`,
//! read-your-writes, who may see what — is the kit's.
//!
//! | route | body | success |
//! |---|---|---|
//! | `POST /tasks` | `{"title"}` | 201 `{"task_id","version"}` + `Location` |
//! | `POST /tasks/{id}/assign` | `{"assignee"}` (owner only) | 200 `{"task_id","version"}` |
//! | `POST /tasks/{id}/complete` | none or `{}` (owner or assignee) | 200 |
//! | `GET /tasks/{id}?min_version=N` | | the task's view (owner or assignee) |

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::borrow::Cow;
use tasks_domain::{
    Task, TaskCommand, TaskId, TaskRejection, TaskStream, TaskView, TaskViews, Title,
};
use tributary_core::{Decider, Principal};
use tributary_http::api::docs;
use tributary_http::commands::{new_id, principal, respond, Command, Commands};
use tributary_http::reads::Params;
use tributary_http::views::{ViewRules, Views};
use tributary_http::{Caller, IdPath, JsonBody, Problem, Problems, Route};

/// The tasks' part of the OpenAPI document, from its routes' shapes and its types (no hand-written schema).
pub fn openapi() -> Value {
    let mut doc = docs::Document::new();
    doc.command::<CreateTaskRequest, TaskAccepted>(
        "/tasks",
        ("createTask", "Create a task (the caller owns it)"),
        "task",
        201,
        true,
    )
    .command::<AssignRequest, TaskAccepted>(
        "/tasks/{task_id}/assign",
        ("assignTask", "Assign a task (its owner only)"),
        "task",
        200,
        true,
    )
    .command::<CompleteRequest, TaskAccepted>(
        "/tasks/{task_id}/complete",
        (
            "completeTask",
            "Complete a task (its owner or its assignee)",
        ),
        "task",
        200,
        false,
    )
    .view::<TaskView>(
        "/tasks/{task_id}",
        (
            "getTask",
            "A task, to its owner, its assignee or an operator (anyone else: 404)",
        ),
        "task",
    );
    doc.into_part()
}

/// The tasks' part of the AsyncAPI document: a message per event type, generated from [`tasks_domain::TaskEvent`].
pub fn asyncapi() -> Value {
    tributary_core::contract::event_messages::<tasks_domain::TaskEvent>(
        tasks_domain::STREAM_PREFIX,
        "task",
    )
}

/// The command routes, over the kit's commands.
pub fn command_routes() -> Vec<Route<Commands>> {
    vec![
        Route::new("POST", "/tasks", post(create)),
        Route::new("POST", "/tasks/{task_id}/assign", post(assign)),
        Route::new("POST", "/tasks/{task_id}/complete", post(complete)),
    ]
}

/// The read routes, over the kit's views.
pub fn read_routes() -> Vec<Route<Views>> {
    vec![Route::new("GET", "/tasks/{task_id}", get(task))]
}

/// Body of `POST /tasks`. The owner is the caller.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTaskRequest {
    pub title: Title,
}

/// Body of `POST /tasks/{id}/assign`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    pub assignee: Assignee,
}

/// Whom a task is assigned to: a principal as callers are named (an IAM principal's ARN, a JWT's `sub`), 1 to 256
/// printable ASCII characters — exactly what the document's `Assignee` schema says.
#[derive(Debug, Clone, Serialize)]
pub struct Assignee(Principal);

impl JsonSchema for Assignee {
    fn schema_name() -> Cow<'static, str> {
        "Assignee".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "pattern": "^[!-~]{1,256}$"})
    }
}

impl<'de> Deserialize<'de> for Assignee {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        let printable = (1..=256).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic());
        printable
            .then(|| Principal::parse(&raw).ok())
            .flatten()
            .map(Self)
            .ok_or_else(|| {
                serde::de::Error::custom("an assignee is 1 to 256 printable ASCII characters")
            })
    }
}

/// Body of `POST /tasks/{id}/complete` (empty, or `{}`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteRequest {}

/// The success response of every task command.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct TaskAccepted {
    #[schemars(extend("format" = "uuid"))]
    pub task_id: String,
    #[schemars(range(min = 1))]
    pub version: u64,
}

/// What a request asked for, in canonical form: its idempotency fingerprint, and a rejection event's command.
#[derive(Serialize)]
#[serde(tag = "operation", rename_all = "snake_case")]
enum Request<'a> {
    Create {
        body: &'a CreateTaskRequest,
    },
    Assign {
        task_id: TaskId,
        body: &'a AssignRequest,
    },
    Complete {
        task_id: TaskId,
    },
}

/// `POST /tasks`. With an `Idempotency-Key`, the id is derived from the caller and the key: a retry finds the task.
async fn create(
    State(commands): State<Commands>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CreateTaskRequest>,
) -> Result<Response, Problem> {
    let task_id = new_id::<TaskStream>(&caller, &headers)?;
    let command = TaskCommand::Create {
        owner: principal(&caller)?,
        title: body.title.clone(),
    };
    let request = Request::Create { body: &body };
    run(
        &commands,
        task_id,
        command,
        &request,
        caller,
        &headers,
        StatusCode::CREATED,
    )
    .await
}

/// `POST /tasks/{id}/assign`.
async fn assign(
    State(commands): State<Commands>,
    IdPath(task_id): IdPath<TaskStream>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody<AssignRequest>,
) -> Result<Response, Problem> {
    let command = TaskCommand::Assign {
        assignee: body.assignee.0.clone(),
    };
    let request = Request::Assign {
        task_id,
        body: &body,
    };
    run(
        &commands,
        task_id,
        command,
        &request,
        caller,
        &headers,
        StatusCode::OK,
    )
    .await
}

/// `POST /tasks/{id}/complete`.
async fn complete(
    State(commands): State<Commands>,
    IdPath(task_id): IdPath<TaskStream>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(CompleteRequest {}): JsonBody<CompleteRequest>,
) -> Result<Response, Problem> {
    let command = TaskCommand::Complete {
        by: principal(&caller)?,
    };
    let request = Request::Complete { task_id };
    run(
        &commands,
        task_id,
        command,
        &request,
        caller,
        &headers,
        StatusCode::OK,
    )
    .await
}

async fn run(
    commands: &Commands,
    task_id: TaskId,
    command: TaskCommand,
    request: &Request<'_>,
    caller: Caller,
    headers: &HeaderMap,
    success: StatusCode,
) -> Result<Response, Problem> {
    let command = Command::<Task, _> {
        stream_id: task_id.stream_id(),
        command,
        request,
    };
    let outcome = commands
        .run(&TaskProblems, command, caller, headers)
        .await?;
    let body = TaskAccepted {
        task_id: task_id.to_string(),
        version: outcome.version(),
    };
    let location = (success == StatusCode::CREATED).then(|| format!("/tasks/{task_id}"));
    Ok(respond(success, &body, body.version, location, &outcome))
}

/// `GET /tasks/{id}`: the task's view, to its owner, its assignee or an operator; anyone else gets 404.
async fn task(
    State(views): State<Views>,
    IdPath(task_id): IdPath<TaskStream>,
    caller: Caller,
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let rules = ViewRules {
        version: |view: &TaskView| view.version,
        may_read: |view, caller| caller.operator || view.involves(&caller.principal),
        not_found: || TaskProblems.not_found(),
    };
    views
        .one(
            &TaskViews,
            &task_id.stream_id(),
            Params::of(params)?,
            &caller,
            rules,
        )
        .await
}

/// How the task's refusals read over HTTP.
#[derive(Debug, Clone, Copy, Default)]
pub struct TaskProblems;

impl Problems<Task> for TaskProblems {
    fn noun(&self) -> &'static str {
        "task"
    }
    fn rejected(&self, rejection: &TaskRejection) -> Problem {
        let (status, title) = match rejection {
            TaskRejection::NotCreated => (StatusCode::NOT_FOUND, "Task not found"),
            TaskRejection::AlreadyCreated => (StatusCode::CONFLICT, "Task already exists"),
            TaskRejection::Completed => (StatusCode::CONFLICT, "Task completed"),
        };
        Problem::new(
            status,
            Task::rejection_code(rejection),
            title,
            rejection.to_string(),
        )
    }
    fn not_found(&self) -> Problem {
        self.rejected(&TaskRejection::NotCreated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documents come from the types: the request bodies refuse unknown fields as the server does, a title's
    /// schema is what `Title::parse` accepts, ids in paths are UUIDs, and each event type is a message.
    #[test]
    fn the_documents_are_generated_from_the_types() {
        let doc = openapi();
        let schemas = &doc["components"]["schemas"];
        assert_eq!(
            schemas["CreateTaskRequest"]["additionalProperties"], false,
            "{doc:#}"
        );
        assert_eq!(
            schemas["CreateTaskRequest"]["required"],
            serde_json::json!(["title"])
        );
        assert_eq!(schemas["Title"]["maxLength"], 200);
        assert_eq!(schemas["CompleteRequest"]["additionalProperties"], false);
        assert!(schemas["TaskView"]["properties"]["assignee"].is_object());
        let assign = &doc["paths"]["/tasks/{task_id}/assign"];
        assert_eq!(assign["parameters"][0]["name"], "task_id");
        assert_eq!(
            assign["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/AssignRequest"
        );
        assert_eq!(
            doc["paths"]["/tasks"]["post"]["requestBody"]["required"],
            true
        );
        assert_eq!(
            doc["paths"]["/tasks/{task_id}/complete"]["post"]["requestBody"]["required"],
            false
        );
        let events = asyncapi();
        for name in ["TaskCreated.v1", "TaskAssigned.v1", "TaskCompleted.v1"] {
            assert!(
                events["components"]["messages"][name].is_object(),
                "{name}: {events:#}"
            );
        }
    }
}
