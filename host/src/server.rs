//! The HTTP front: binds the listener, routes each app's path to the upgrade
//! handler, serves static files elsewhere, and runs the shutdown sequence.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::services::ServeDir;

use crate::app::{AppActor, AppEvent, AppHandle, OpenDecision};
use crate::config::{Config, Limits};
use crate::connection::{self, ConnectionSettings};
use crate::guest::{self, Module, ModuleError};
use crate::handshake;
use crate::outbox::{ConnectionId, outbox};

/// What the upgrade handler of one route needs.
struct Route {
    app: AppHandle,
    limits: Limits,
    connections: TaskTracker,
    shutdown: CancellationToken,
}

/// Compile and start every configured app. A module that cannot load is a
/// configuration error: nothing is served until every app starts.
pub fn start_apps(
    config: &Config,
    engine: &wasmtime::Engine,
) -> Result<Vec<(AppHandle, AppActor, String)>, ModuleError> {
    let mut started = Vec::new();
    for app in &config.apps {
        let module = Module::load(engine, &app.module)?;
        let (handle, actor) = AppActor::start(&app.name, module, config.limits.mailbox_capacity)
            .map_err(|error| ModuleError::WrongWorld {
                path: app.module.display().to_string(),
                reason: format!("{error:#}").replace('\n', " "),
            })?;
        started.push((handle, actor, app.route.clone()));
    }
    Ok(started)
}

/// Serve until `shutdown` is cancelled, then drain: every connection is
/// closed with 1001 and every app has heard every `on-close` before this
/// returns.
pub async fn run(
    config: Config,
    apps: Vec<(AppHandle, AppActor, String)>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr()?;

    let connections = TaskTracker::new();
    let mut router = Router::new();
    let mut actors = Vec::new();
    // This line is the contract tests and scripts read the bound port from.
    println!("switchboard listening on http://{address}");
    for (handle, actor, route) in apps {
        println!("  app {} on ws://{address}{route}", handle.name());
        let state = Arc::new(Route {
            app: handle,
            limits: config.limits.clone(),
            connections: connections.clone(),
            shutdown: shutdown.clone(),
        });
        router = router.route(&route, get(accept_websocket).with_state(state));
        actors.push(actor);
    }
    if let Some(dir) = &config.static_dir {
        router = router.fallback_service(ServeDir::new(dir));
    }

    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.clone().cancelled_owned())
    .await
    .context("the server failed")?;

    // The listener is closed and the router with its app handles dropped.
    // Connection tasks see the same token, send 1001 and report on-close;
    // each is bounded by the close timeout.
    connections.close();
    connections.wait().await;
    // With no handle left, each app's mailbox closes once drained.
    tokio::task::spawn_blocking(move || actors.into_iter().for_each(AppActor::join))
        .await
        .context("cannot wait for the apps to stop")?;
    Ok(())
}

/// The upgrade route of one app: validate, ask the app (`on-open`), then
/// upgrade or answer with the app's status.
async fn accept_websocket(
    State(route): State<Arc<Route>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    mut request: Request,
) -> Response {
    if let Err(refusal) = handshake::validate(request.method(), request.headers()) {
        return refusal;
    }
    if route.shutdown.is_cancelled() {
        return handshake::refuse(StatusCode::SERVICE_UNAVAILABLE, "server shutting down");
    }
    let connection = ConnectionId::next();
    let (outbox, outbox_receiver) = outbox(route.limits.max_outbox_bytes);
    let (decision_sender, decision) = oneshot::channel();
    let open = AppEvent::Open {
        connection,
        request: handshake::describe(request.uri(), request.headers(), remote),
        outbox,
        decision: decision_sender,
    };
    if route.app.post(open).await.is_err() {
        return handshake::refuse(StatusCode::SERVICE_UNAVAILABLE, "app stopped");
    }
    let mut pending = PendingOpen {
        app: route.app.clone(),
        connection,
        decision: Some(decision),
    };
    let subprotocol = match pending.decide().await {
        Some(OpenDecision::Accept { subprotocol }) => subprotocol,
        Some(OpenDecision::Reject { status, body }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return handshake::refuse(status, body);
        }
        None => return handshake::refuse(StatusCode::SERVICE_UNAVAILABLE, "app stopped"),
    };

    // yawc's limits are exclusive upper bounds; ours is the largest allowed.
    let limit = route.limits.max_message_bytes.saturating_add(1);
    let options = yawc::Options::default()
        .with_utf8()
        .with_max_payload_read(limit)
        .with_max_read_buffer(limit)
        .with_no_delay();
    let (response, upgrade) = match yawc::WebSocket::upgrade_with_options(&mut request, options) {
        Ok(upgrade) => upgrade,
        Err(error) => {
            // Accepted by the app, so it must still hear on-close.
            connection::report_close(&route.app, connection, 1006, error.to_string()).await;
            return handshake::refuse(StatusCode::BAD_REQUEST, error.to_string());
        }
    };
    let app = route.app.clone();
    let shutdown = route.shutdown.clone();
    let settings = ConnectionSettings {
        close_timeout: route.limits.close_timeout(),
    };
    route.connections.spawn(async move {
        match upgrade.await {
            Ok(websocket) => {
                connection::serve(
                    websocket,
                    connection,
                    app,
                    outbox_receiver,
                    shutdown,
                    settings,
                )
                .await
            }
            Err(error) => {
                connection::report_close(&app, connection, 1006, error.to_string()).await;
            }
        }
    });

    let mut response = response.map(axum::body::Body::new).into_response();
    if let Some(subprotocol) = subprotocol
        && let Ok(value) = HeaderValue::from_str(&subprotocol)
    {
        response
            .headers_mut()
            .insert(header::SEC_WEBSOCKET_PROTOCOL, value);
    }
    response
}

/// An `on-open` the handler is waiting on. If the handler is dropped first
/// (hyper gives up on a client that disconnected mid-handshake), the guard
/// still collects the app's answer and, if it was an accept, reports the
/// close, so the app hears `on-close` for every connection it accepted.
struct PendingOpen {
    app: AppHandle,
    connection: ConnectionId,
    decision: Option<oneshot::Receiver<OpenDecision>>,
}

impl PendingOpen {
    async fn decide(&mut self) -> Option<OpenDecision> {
        let decision = self.decision.as_mut()?.await.ok();
        self.decision = None;
        decision
    }
}

impl Drop for PendingOpen {
    fn drop(&mut self) {
        let Some(decision) = self.decision.take() else {
            return;
        };
        let app = self.app.clone();
        let connection = self.connection;
        tokio::spawn(async move {
            if let Ok(OpenDecision::Accept { .. }) = decision.await {
                let reason = "client left during the handshake".to_string();
                connection::report_close(&app, connection, 1006, reason).await;
            }
        });
    }
}

/// `switchboard check`: whether a component fits the world, and its shape.
pub fn check(path: &std::path::Path) -> Result<String, ModuleError> {
    let engine = guest::engine().map_err(|error| ModuleError::NotAComponent {
        path: path.display().to_string(),
        reason: format!("{error:#}"),
    })?;
    let bytes = std::fs::read(path).map_err(|source| ModuleError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let inventory =
        guest::inventory(&engine, &bytes).map_err(|error| ModuleError::NotAComponent {
            path: path.display().to_string(),
            reason: format!("{error:#}").replace('\n', " "),
        })?;
    let mut report = String::new();
    report.push_str("imports:\n");
    for name in &inventory.imports {
        report.push_str(&format!("  {name}\n"));
    }
    report.push_str("exports:\n");
    for name in &inventory.exports {
        report.push_str(&format!("  {name}\n"));
    }
    Module::from_bytes(&engine, &bytes, &path.display().to_string())?;
    Ok(report)
}
