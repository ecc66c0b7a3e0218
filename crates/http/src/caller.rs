//! Who is calling, and whether they are an operator.
//!
//! * **In Lambda**, only API Gateway's authorizer context counts (a request's own `Authorization` header is never
//!   read): the IAM principal's ARN, or the JWT's `sub`. An assumed role is one principal whatever the session:
//!   `arn:aws:sts::<account>:assumed-role/<role>/<session>` is `arn:aws:sts::<account>:assumed-role/<role>` (the
//!   session name changes per session; everyone who assumes the role is the same principal).
//! * **Locally** (devstack, tests), the caller is the `sub` of an `Authorization: Bearer <JWT>` header, decoded
//!   **without checking the signature** (locally nobody verifies tokens; in AWS API Gateway did), with its `scope`
//!   and `groups` as on AWS; no header is the caller `anonymous`.
//!
//! An operator ([`OperatorRule`]) is an IAM principal in `OPERATOR_PRINCIPALS`, or a JWT caller with the scope
//! `OPERATOR_SCOPE` or in the group `OPERATOR_GROUP`.

use crate::problem::Problem;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::{Extension, Router};
use base64::Engine;
use lambda_http::aws_lambda_events::apigw::ApiGatewayRequestAuthorizer;
use lambda_http::request::RequestContext;
use std::sync::Arc;
use tributary_runtime::in_lambda;

/// The caller when nobody authenticated them (local runs without a bearer token).
pub const ANONYMOUS: &str = "anonymous";
/// Longest principal accepted.
const MAX_PRINCIPAL_LEN: usize = 256;

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The principal: recorded as the `actor` of every event, owner of the accounts it opens, scope of its
    /// idempotency keys.
    pub principal: String,
    /// May read every account and listing.
    pub operator: bool,
}

impl Caller {
    /// Whether this caller may read what `owner` owns.
    pub fn may_read(&self, owner: &str) -> bool {
        self.operator || self.principal == owner
    }
}

/// Who is an operator. Empty: nobody.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OperatorRule {
    /// IAM principals (as normalised: users' ARNs, assumed roles without the session).
    pub principals: Vec<String>,
    /// A JWT scope that makes its bearer an operator.
    pub scope: Option<String>,
    /// A JWT group (`groups` or `cognito:groups`) that makes its members operators.
    pub group: Option<String>,
}

impl OperatorRule {
    /// `OPERATOR_PRINCIPALS` (comma-separated ARNs), `OPERATOR_SCOPE`, `OPERATOR_GROUP`; unset means none.
    pub fn from_env() -> Self {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        Self {
            principals: var("OPERATOR_PRINCIPALS")
                .map(|list| {
                    list.split(',')
                        .map(|p| normalise_principal(p.trim()))
                        .filter(|p| !p.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            scope: var("OPERATOR_SCOPE"),
            group: var("OPERATOR_GROUP"),
        }
    }

    /// The local stack's operators: bearer tokens with the scope `tributary/operator` or in the group
    /// `tributary-operators` (unless `OPERATOR_*` is set).
    pub fn local_default() -> Self {
        let configured = Self::from_env();
        if configured != Self::default() {
            return configured;
        }
        Self {
            principals: Vec::new(),
            scope: Some("tributary/operator".to_owned()),
            group: Some("tributary-operators".to_owned()),
        }
    }

    fn admits(&self, principal: &str, scopes: &[String], groups: &[String]) -> bool {
        self.principals.iter().any(|p| p == principal)
            || self.scope.as_ref().is_some_and(|s| scopes.contains(s))
            || self.group.as_ref().is_some_and(|g| groups.contains(g))
    }
}

/// Locally, refuse requests without a bearer token (401 `unauthenticated`) instead of calling them `anonymous`: what
/// API Gateway does in AWS, for a local stack that must behave exactly so (the Schemathesis run).
#[derive(Debug, Clone, Copy)]
pub struct RequireAuthentication;

/// Refuse unauthenticated local requests on every route of `router` (see [`RequireAuthentication`]).
pub fn with_required_authentication(router: Router) -> Router {
    router.layer(Extension(RequireAuthentication))
}

/// Make `rule` the operator rule of every route of `router`.
pub fn with_operators(router: Router, rule: OperatorRule) -> Router {
    router.layer(Extension(Arc::new(rule)))
}

/// An IAM principal as Tributary identifies it: an assumed role without its session name.
pub fn normalise_principal(arn: &str) -> String {
    match arn.split_once(":assumed-role/") {
        Some((prefix, role_and_session)) => {
            let role = role_and_session.split('/').next().unwrap_or_default();
            format!("{prefix}:assumed-role/{role}")
        }
        None => arn.to_owned(),
    }
}

fn unauthenticated(detail: impl Into<String>) -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "Unauthenticated",
        detail,
    )
}

fn invalid_token(detail: impl Into<String>) -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "invalid-token",
        "Invalid bearer token",
        detail,
    )
}

/// The scopes of a `scope` claim: space-separated (RFC 6749 section 3.3), each matched whole — never split on
/// anything else (`x,tributary/operator` is one scope, not an operator's).
fn scope_list(raw: &str) -> Vec<String> {
    raw.split_whitespace().map(str::to_owned).collect()
}

/// The groups of a groups claim given as a string: API Gateway's rendering of a claim array (`[a b c]`), or else one
/// group, matched whole (`x,tributary-operators` is one group — Cognito allows commas in names — not an operator's).
fn group_list(raw: &str) -> Vec<String> {
    let raw = raw.trim();
    match raw.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        Some(array) => array.split_whitespace().map(str::to_owned).collect(),
        None if raw.is_empty() => Vec::new(),
        None => vec![raw.to_owned()],
    }
}

/// Principals under this prefix are the system's own (the transfer process commands accounts as
/// `system:transfers`): no caller may be one, whatever its identity provider puts in `sub`.
pub const RESERVED_PRINCIPAL_PREFIX: &str = "system:";

fn checked(principal: String) -> Result<String, Problem> {
    if principal.is_empty()
        || principal.len() > MAX_PRINCIPAL_LEN
        || principal.chars().any(char::is_control)
    {
        return Err(invalid_token(format!(
            "the principal must be 1 to {MAX_PRINCIPAL_LEN} bytes without control characters"
        )));
    }
    if principal.starts_with(RESERVED_PRINCIPAL_PREFIX) {
        return Err(invalid_token(format!(
            "principals starting with {RESERVED_PRINCIPAL_PREFIX:?} are reserved for the system"
        )));
    }
    Ok(principal)
}

/// The caller API Gateway authenticated.
fn from_authorizer(
    authorizer: Option<&ApiGatewayRequestAuthorizer>,
    rule: &OperatorRule,
) -> Result<Caller, Problem> {
    let no_identity = || unauthenticated("the API did not authenticate this request");
    let authorizer = authorizer.ok_or_else(no_identity)?;
    if let Some(arn) = authorizer
        .iam
        .as_ref()
        .and_then(|iam| iam.user_arn.as_deref())
    {
        let principal = checked(normalise_principal(arn))?;
        let operator = rule.admits(&principal, &[], &[]);
        return Ok(Caller {
            principal,
            operator,
        });
    }
    let jwt = authorizer.jwt.as_ref().ok_or_else(no_identity)?;
    let principal = checked(jwt.claims.get("sub").cloned().ok_or_else(no_identity)?)?;
    let mut scopes = jwt.scopes.clone().unwrap_or_default();
    scopes.extend(
        jwt.claims
            .get("scope")
            .map(|s| scope_list(s))
            .unwrap_or_default(),
    );
    let groups: Vec<String> = ["cognito:groups", "groups"]
        .iter()
        .filter_map(|name| jwt.claims.get(*name))
        .flat_map(|g| group_list(g))
        .collect();
    let operator = rule.admits(&principal, &scopes, &groups);
    Ok(Caller {
        principal,
        operator,
    })
}

/// The caller of a local request: an unverified bearer token's claims, or anonymous (unless authentication is
/// required).
fn from_bearer(parts: &Parts, rule: &OperatorRule) -> Result<Caller, Problem> {
    let mut values = parts.headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        if parts.extensions.get::<RequireAuthentication>().is_some() {
            return Err(unauthenticated("send Authorization: Bearer <JWT>"));
        }
        return Ok(Caller {
            principal: ANONYMOUS.to_owned(),
            operator: false,
        });
    };
    if values.next().is_some() {
        return Err(Problem::bad_request(
            "invalid-header",
            "Invalid header",
            "send one Authorization header",
        ));
    }
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .ok_or_else(|| invalid_token("Authorization must be `Bearer <JWT>`"))?;
    let mut segments = token.trim().split('.');
    let (Some(_header), Some(payload), Some(_signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(invalid_token("a JWT has three dot-separated parts"));
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| invalid_token("the JWT payload is not base64url"))?;
    let claims: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes)
        .map_err(|_| invalid_token("the JWT payload is not a JSON object"))?;
    let principal = checked(
        claims
            .get("sub")
            .and_then(|s| s.as_str())
            .ok_or_else(|| invalid_token("the JWT has no string `sub` claim"))?
            .to_owned(),
    )?;
    let strings = |name: &str, split: fn(&str) -> Vec<String>| -> Vec<String> {
        match claims.get(name) {
            Some(serde_json::Value::String(s)) => split(s),
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    };
    let scopes: Vec<String> = ["scope", "scp"]
        .iter()
        .flat_map(|n| strings(n, scope_list))
        .collect();
    let groups: Vec<String> = ["groups", "cognito:groups"]
        .iter()
        .flat_map(|n| strings(n, group_list))
        .collect();
    let operator = rule.admits(&principal, &scopes, &groups);
    Ok(Caller {
        principal,
        operator,
    })
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Problem> {
        let rule = parts
            .extensions
            .get::<Arc<OperatorRule>>()
            .cloned()
            .unwrap_or_default();
        match parts.extensions.get::<RequestContext>() {
            Some(RequestContext::ApiGatewayV2(context)) => {
                from_authorizer(context.authorizer.as_ref(), &rule)
            }
            Some(_) => Err(unauthenticated(
                "only API Gateway HTTP API requests are served",
            )),
            None if in_lambda() => {
                Err(unauthenticated("the request carries no authorizer context"))
            }
            None => from_bearer(parts, &rule),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(claims: serde_json::Value) -> String {
        let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.{}",
            b64(br#"{"alg":"none"}"#),
            b64(claims.to_string().as_bytes()),
            b64(b"unsigned")
        )
    }

    fn local(authorization: Option<&str>, rule: &OperatorRule) -> Result<Caller, Problem> {
        let mut request = axum::http::Request::builder().uri("/");
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        let (parts, ()) = request.body(()).unwrap().into_parts();
        from_bearer(&parts, rule)
    }

    #[test]
    fn assumed_roles_are_one_principal_whatever_the_session() {
        assert_eq!(
            normalise_principal("arn:aws:sts::123456789012:assumed-role/teller/alice@example.com"),
            "arn:aws:sts::123456789012:assumed-role/teller"
        );
        assert_eq!(
            normalise_principal("arn:aws:iam::123456789012:user/alice"),
            "arn:aws:iam::123456789012:user/alice"
        );
    }

    #[test]
    fn local_callers_come_from_unverified_bearer_tokens() {
        let rule = OperatorRule {
            scope: Some("tributary/operator".into()),
            group: Some("ops".into()),
            ..OperatorRule::default()
        };
        assert_eq!(local(None, &rule).unwrap().principal, ANONYMOUS);
        let alice = local(
            Some(&format!(
                "Bearer {}",
                token(serde_json::json!({"sub": "alice"}))
            )),
            &rule,
        )
        .unwrap();
        assert_eq!(
            alice,
            Caller {
                principal: "alice".into(),
                operator: false
            }
        );
        let by_scope = token(serde_json::json!({"sub": "op", "scope": "read tributary/operator"}));
        assert!(
            local(Some(&format!("Bearer {by_scope}")), &rule)
                .unwrap()
                .operator
        );
        let by_group = token(serde_json::json!({"sub": "op", "cognito:groups": ["ops"]}));
        assert!(
            local(Some(&format!("Bearer {by_group}")), &rule)
                .unwrap()
                .operator
        );
        for bad in ["Basic abc", "Bearer not-a-jwt", "Bearer a.!!!.c"] {
            assert_eq!(
                local(Some(bad), &rule).unwrap_err().status,
                StatusCode::UNAUTHORIZED,
                "{bad}"
            );
        }
        let system = token(serde_json::json!({"sub": "system:transfers"}));
        assert_eq!(
            local(Some(&format!("Bearer {system}")), &rule)
                .unwrap_err()
                .slug,
            "invalid-token",
            "a caller can never be the system's own principal"
        );
        let no_sub = token(serde_json::json!({"name": "x"}));
        assert_eq!(
            local(Some(&format!("Bearer {no_sub}")), &rule)
                .unwrap_err()
                .slug,
            "invalid-token"
        );
    }

    #[test]
    fn api_gateway_claims_arrays_are_parsed() {
        assert_eq!(group_list("[ops readers]"), ["ops", "readers"]);
        assert_eq!(group_list("ops"), ["ops"]);
        assert_eq!(scope_list("a b"), ["a", "b"]);
    }

    /// Before, claim strings were split on commas too: a group or scope named `x,tributary-operators` (Cognito allows
    /// commas in group names; anyone who can name a group or scope could) made its bearer an operator.
    #[test]
    fn operator_groups_and_scopes_are_matched_whole() {
        let rule = OperatorRule {
            scope: Some("tributary/operator".into()),
            group: Some("tributary-operators".into()),
            ..OperatorRule::default()
        };
        let bearer = |claims: serde_json::Value| format!("Bearer {}", token(claims));
        for claims in [
            serde_json::json!({"sub": "x", "groups": "x,tributary-operators"}),
            serde_json::json!({"sub": "x", "cognito:groups": ["x,tributary-operators"]}),
            serde_json::json!({"sub": "x", "scope": "read x,tributary/operator"}),
        ] {
            assert!(
                !local(Some(&bearer(claims.clone())), &rule)
                    .unwrap()
                    .operator,
                "{claims}"
            );
        }
        for claims in [
            serde_json::json!({"sub": "x", "groups": "tributary-operators"}),
            serde_json::json!({"sub": "x", "groups": "[readers tributary-operators]"}),
            serde_json::json!({"sub": "x", "scope": "read tributary/operator"}),
        ] {
            assert!(
                local(Some(&bearer(claims.clone())), &rule)
                    .unwrap()
                    .operator,
                "{claims}"
            );
        }
        // The same through API Gateway's authorizer context (claims as strings).
        let authorizer = |claims: &[(&str, &str)]| {
            let mut jwt = lambda_http::aws_lambda_events::apigw::ApiGatewayRequestAuthorizerJwtDescription::default();
            jwt.claims = claims
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            let mut authorizer = ApiGatewayRequestAuthorizer::default();
            authorizer.jwt = Some(jwt);
            authorizer
        };
        let forged = authorizer(&[("sub", "x"), ("cognito:groups", "x,tributary-operators")]);
        assert!(!from_authorizer(Some(&forged), &rule).unwrap().operator);
        let forged = authorizer(&[("sub", "x"), ("scope", "x,tributary/operator")]);
        assert!(!from_authorizer(Some(&forged), &rule).unwrap().operator);
        let member = authorizer(&[("sub", "x"), ("cognito:groups", "[a tributary-operators]")]);
        assert!(from_authorizer(Some(&member), &rule).unwrap().operator);
    }
}
