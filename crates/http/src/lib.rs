//! The HTTP edge shared by the command and query functions.
//!
//! * [`Problem`]: RFC 9457 `application/problem+json` errors with stable types.
//! * [`JsonBody`]: a JSON body extractor that answers 400/413/415 as problems.
//! * [`Caller`]: who is calling (API Gateway's authorizer in Lambda, an unverified bearer token locally), and
//!   whether they are an operator.
//! * [`RateLimit`]: a budget per principal, checked before any handler runs (429 past it).
//! * [`ProblemListener`]: the local server's listener, whose connections answer malformed HTTP as problems too.
//! * [`outcomes`]: commands counted by outcome (a metric).
//! * [`serve`]: one binary, two modes: Lambda when `AWS_LAMBDA_RUNTIME_API` is set, a local HTTP server otherwise.
//!
//! Process setup that is not about HTTP (configuration, logs, metrics) is in `tributary-runtime`.

pub mod caller;
pub mod json_body;
pub mod limit;
pub mod listener;
pub mod outcomes;
pub mod problem;
pub mod routes;
pub mod serve;

pub use caller::{with_operators, with_required_authentication, Caller, OperatorRule};
pub use json_body::{JsonBody, MAX_BODY_BYTES};
pub use limit::{with_rate_limit, RateLimit};
pub use listener::ProblemListener;
pub use problem::{with_problem_fallbacks, Problem};
pub use routes::{router_from, Route};
pub use serve::serve;
