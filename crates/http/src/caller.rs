//! Who is calling: the principal API Gateway authenticated (IAM user/role ARN, or a JWT's `sub`), recorded as the
//! `actor` of every event and used to scope idempotency keys.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use lambda_http::request::RequestContext;
use std::convert::Infallible;

/// The actor recorded when no authorizer identified the caller (local runs, or an API without authorization).
pub const ANONYMOUS: &str = "anonymous";

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        let principal = match parts.extensions.get::<RequestContext>() {
            Some(RequestContext::ApiGatewayV2(context)) => {
                context.authorizer.as_ref().and_then(|authorizer| {
                    let iam = authorizer.iam.as_ref().and_then(|iam| iam.user_arn.clone());
                    let jwt = authorizer
                        .jwt
                        .as_ref()
                        .and_then(|jwt| jwt.claims.get("sub").cloned());
                    iam.or(jwt)
                })
            }
            _ => None,
        };
        Ok(Self(principal.unwrap_or_else(|| ANONYMOUS.to_owned())))
    }
}
