//! The admin HTTP API: deploy, inspect, roll back and remove apps while the
//! host serves.
//!
//! It listens on its own address (loopback by default), separate from the
//! WebSocket listener, so it can be firewalled apart, and it is off unless a
//! token is configured: every request must carry `Authorization: Bearer
//! TOKEN`. Answers are JSON; errors are `{"error": "..."}` with a status that
//! says what kind of mistake it was (docs/deploying.md lists them).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderValue, StatusCode, header};
use http_body_util::BodyExt as _;
use serde::{Deserialize, Serialize};

use crate::deploy::store::Source;
use crate::deploy::{AppStatus, DeployError, Deployer, Outcome};

struct Admin {
    deployer: Arc<Deployer>,
    token: String,
    max_module_bytes: usize,
}

/// The admin API's routes, all behind the bearer token.
pub fn router(deployer: Arc<Deployer>, token: String, max_module_bytes: usize) -> Router {
    let admin = Arc::new(Admin {
        deployer,
        token,
        max_module_bytes,
    });
    Router::new()
        .route("/apps", get(list_apps))
        .route(
            "/apps/{name}",
            get(show_app).put(deploy_app).delete(remove_app),
        )
        .route("/apps/{name}/rollback", post(rollback_app))
        .fallback(|| async { refusal(StatusCode::NOT_FOUND, "no such admin endpoint") })
        .route_layer(middleware::from_fn_with_state(admin.clone(), require_token))
        .with_state(admin)
}

/// Refuse any request without the right bearer token. The comparison takes
/// the same time wherever the first wrong byte is, so the token cannot be
/// guessed byte by byte from response times.
async fn require_token(State(admin): State<Arc<Admin>>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or("");
    if !constant_time_eq(presented.as_bytes(), admin.token.as_bytes()) {
        let mut response = refusal(
            StatusCode::UNAUTHORIZED,
            "missing or wrong admin token (Authorization: Bearer TOKEN)",
        );
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    next.run(request).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

async fn list_apps(State(admin): State<Arc<Admin>>) -> Response {
    json(StatusCode::OK, &admin.deployer.list())
}

async fn show_app(State(admin): State<Arc<Admin>>, Path(name): Path<String>) -> Response {
    match admin.deployer.status(&name) {
        Some(status) => json(StatusCode::OK, &status),
        None => failure(&DeployError::UnknownApp(name)),
    }
}

#[derive(Deserialize)]
struct DeployQuery {
    /// The route of a new app; ignored (but checked) for an existing one.
    route: Option<String>,
}

/// What a deploy answers: the outcome beside the app's new status.
#[derive(Serialize)]
struct Deployed {
    outcome: Outcome,
    #[serde(flatten)]
    status: AppStatus,
}

async fn deploy_app(
    State(admin): State<Arc<Admin>>,
    Path(name): Path<String>,
    Query(query): Query<DeployQuery>,
    request: Request,
) -> Response {
    let bytes = match read_body(request.into_body(), admin.max_module_bytes).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    match admin
        .deployer
        .deploy(&name, bytes, Source::Upload, query.route.as_deref())
        .await
    {
        Ok((outcome, status)) => {
            let code = match outcome {
                Outcome::Created => StatusCode::CREATED,
                Outcome::Replaced | Outcome::Unchanged => StatusCode::OK,
            };
            json(code, &Deployed { outcome, status })
        }
        Err(error) => failure(&error),
    }
}

#[derive(Deserialize)]
struct RollbackQuery {
    /// A version id (or a unique prefix of its hash); default: the version
    /// before the active one.
    version: Option<String>,
}

async fn rollback_app(
    State(admin): State<Arc<Admin>>,
    Path(name): Path<String>,
    Query(query): Query<RollbackQuery>,
) -> Response {
    match admin
        .deployer
        .rollback(&name, query.version.as_deref())
        .await
    {
        Ok(status) => json(StatusCode::OK, &status),
        Err(error) => failure(&error),
    }
}

async fn remove_app(State(admin): State<Arc<Admin>>, Path(name): Path<String>) -> Response {
    match admin.deployer.remove(&name).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => failure(&error),
    }
}

/// Read an upload, refusing it with 413 as soon as it passes the limit
/// rather than after buffering all of it.
async fn read_body(mut body: Body, limit: usize) -> Result<Vec<u8>, Response> {
    let too_large = |size: usize| failure(&DeployError::TooLarge { size, limit });
    let mut bytes = Vec::new();
    let mut size = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| {
            refusal(
                StatusCode::BAD_REQUEST,
                &format!("reading the upload failed: {error}"),
            )
        })?;
        if let Ok(data) = frame.into_data() {
            size = size.saturating_add(data.len());
            // Past the limit the rest is read and dropped rather than left
            // unread: closing on unread data resets the connection, and the
            // client would see a reset instead of the 413. Only holders of
            // the token get this far.
            if size <= limit {
                bytes.extend_from_slice(&data);
            }
        }
    }
    if size > limit {
        return Err(too_large(size));
    }
    if bytes.is_empty() {
        return Err(refusal(
            StatusCode::BAD_REQUEST,
            "the request body must be the component (.wasm)",
        ));
    }
    Ok(bytes)
}

fn status_for(error: &DeployError) -> StatusCode {
    match error {
        DeployError::UnknownApp(_) => StatusCode::NOT_FOUND,
        DeployError::BadRequest(_) => StatusCode::BAD_REQUEST,
        DeployError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        DeployError::Rejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
        DeployError::RouteTaken { .. } => StatusCode::CONFLICT,
        DeployError::NoSuchVersion(_) => StatusCode::CONFLICT,
        DeployError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        DeployError::Stopped(_) => StatusCode::SERVICE_UNAVAILABLE,
        DeployError::InConfig { .. } => StatusCode::CONFLICT,
    }
}

fn failure(error: &DeployError) -> Response {
    refusal(status_for(error), &error.to_string())
}

fn refusal(status: StatusCode, message: &str) -> Response {
    json(status, &serde_json::json!({ "error": message }))
}

fn json(status: StatusCode, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut response = (status, body).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(problem) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode the answer: {problem}"),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"secret"));
    }
}
