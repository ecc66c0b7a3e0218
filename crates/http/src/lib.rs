//! The HTTP edge of every domain's command and query functions.
//!
//! * [`Problem`]: RFC 9457 `application/problem+json` errors with stable types.
//! * [`JsonBody`]: a JSON body extractor that answers 400/413/415 as problems.
//! * [`Caller`]: who is calling (API Gateway's authorizer in Lambda, an unverified bearer token locally), and
//!   whether they are an operator.
//! * [`RateLimit`]: a budget per principal, checked before any handler runs (429 past it).
//! * [`ProblemListener`]: the local server's listener, whose connections answer malformed HTTP as problems too.
//! * [`commands`]: any aggregate's commands over HTTP: headers in, the handler run, `ETag`/`Location` or the
//!   problem out ([`headers`]: `Idempotency-Key`, `If-Match`, `X-Correlation-Id`, `traceparent`).
//! * [`IdPath`]: an aggregate's id in a path, validated.
//! * [`reads`]: any read model's queries: parameters, read-your-writes, `ETag`, listings with signed [`cursor`]s
//!   (keys from Secrets Manager: `cursor_secret`, feature `secrets-manager`), the audit trail of a stream.
//! * [`outcomes`]: commands counted by outcome (a metric).
//! * [`personal`]: read answers with their personal values opened by the store's vault (or `null`, once erased).
//! * [`serve`]: one binary, two modes: Lambda when `AWS_LAMBDA_RUNTIME_API` is set, a local HTTP server otherwise.
//! * [`api`]: one function's routes assembled from every domain's route table, and their documents merged.
//! * `views` (feature `shell`): `GET` of one entity's view of any read model, with read-your-writes.
//! * `shell` (feature `shell`): a command or query function for any domain in one call with its routes.
//!
//! Process setup that is not about HTTP (configuration, logs, metrics) is in `tributary-runtime`.

pub mod api;
pub mod caller;
pub mod commands;
pub mod cursor;
#[cfg(feature = "secrets-manager")]
pub mod cursor_secret;
pub mod headers;
pub mod ids;
pub mod json_body;
pub mod limit;
pub mod listener;
pub mod outcomes;
pub mod personal;
pub mod problem;
pub mod reads;
pub mod routes;
pub mod schedules;
pub mod serve;
#[cfg(feature = "shell")]
pub mod shell;
#[cfg(feature = "shell")]
pub mod views;

pub use api::Api;
pub use caller::{with_operators, with_required_authentication, Caller, OperatorRule};
pub use commands::Problems;
pub use ids::IdPath;
pub use json_body::{JsonBody, MAX_BODY_BYTES};
pub use limit::{with_rate_limit, RateLimit};
pub use listener::ProblemListener;
pub use problem::{with_problem_fallbacks, Problem};
pub use routes::{router_from, Route};
pub use serve::serve;
