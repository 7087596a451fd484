//! The HTTP front: binds the listeners, sends each request on an app's route
//! to the upgrade handler and every other path to the static files, serves
//! the admin API beside it, and runs the shutdown sequence.
//!
//! Routes are looked up per request in the deployer rather than built into
//! the router once, because apps come and go while the host serves.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use futures::FutureExt as _;
use futures::future::Either;
use http::{HeaderValue, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;
use tower_http::services::ServeDir;

use crate::admission::{Admissions, Refusal};
use crate::app::{AppEvent, AppHandle, OpenDecision};
use crate::config::{Config, Limits};
use crate::connection::{self, ConnectionSettings};
use crate::deploy::{Deployer, Route, watch};
use crate::fanout::FrameEncoding;
use crate::outbox::{ConnectionId, outbox};
use crate::strict::StrictReader;
use crate::{admin, close_code, handshake};

/// What yawc's read and write buffers hold between frames, per
/// connection. yawc's default is 8 KiB each, which on an idle connection is
/// most of what it costs; 256 bytes holds a typical small message whole,
/// and a larger frame grows the buffer only while it passes. The price: the
/// read buffer is compacted only once it is full, so a message that
/// arrives as its free tail runs out takes two reads (a third of 64-byte
/// echoes, an estimated 0.1-0.2 µs per message on average;
/// docs/benchmarks.md). Doubling it would halve that and cost every idle
/// connection 256 bytes more.
const SOCKET_BUFFER_BYTES: usize = 256;

/// What every request on the WebSocket listener needs.
struct Front {
    deployer: Arc<Deployer>,
    limits: Limits,
    connections: TaskTracker,
    admissions: Arc<Admissions>,
    shutdown: CancellationToken,
    static_files: Option<ServeDir>,
    /// Where the static files come from, to find an app's page.
    static_dir: Option<std::path::PathBuf>,
}

/// The bound sockets, the part of starting up most likely to fail (a port
/// taken by another process). `serve` binds them before it opens the data
/// directory, so such a failure leaves nothing behind on disk.
pub struct Listeners {
    main: tokio::net::TcpListener,
    admin: Option<tokio::net::TcpListener>,
}

/// Bind the WebSocket listener and, when the admin API is on, its own.
pub async fn bind(config: &Config) -> anyhow::Result<Listeners> {
    let main = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let admin = match &config.admin {
        Some(settings) => Some(
            tokio::net::TcpListener::bind(settings.listen)
                .await
                .with_context(|| format!("cannot listen on {} (admin)", settings.listen))?,
        ),
        None => None,
    };
    Ok(Listeners { main, admin })
}

/// Serve until `shutdown` is cancelled, then drain: every connection is
/// closed with 1001 and every app has heard every `on-close` before this
/// returns.
pub async fn run(
    config: Config,
    listeners: Listeners,
    deployer: Arc<Deployer>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let listener = listeners.main;
    let address = listener.local_addr()?;
    let admin = match (&config.admin, listeners.admin) {
        (Some(settings), Some(admin_listener)) => Some((admin_listener, settings.token.clone())),
        _ => None,
    };

    // These lines are the contract tests and scripts read bound ports from.
    println!("switchboard listening on http://{address}");
    for app in deployer.list() {
        println!("  app {} on ws://{address}{}", app.name, app.route);
    }
    let handshake_timeout = config.limits.handshake_timeout();
    let max_head = config.limits.max_request_head_bytes;
    let admin_server = match admin {
        Some((admin_listener, token)) => {
            println!(
                "switchboard admin on http://{}",
                admin_listener.local_addr()?
            );
            let router = admin::router(deployer.clone(), token, config.limits.max_module_bytes);
            let shutdown = shutdown.clone();
            Some(tokio::spawn(async move {
                crate::http::serve(
                    admin_listener,
                    router,
                    handshake_timeout,
                    max_head,
                    shutdown,
                )
                .await
            }))
        }
        None => {
            tracing::info!(
                "admin API off: set {} to turn it on",
                crate::config::ADMIN_TOKEN_ENV
            );
            None
        }
    };
    let _watch = if config.deploy.watch_files {
        watch::watch_module_files(deployer.clone(), shutdown.clone())?
    } else {
        None
    };

    let connections = TaskTracker::new();
    let front = Arc::new(Front {
        deployer: deployer.clone(),
        limits: config.limits.clone(),
        connections: connections.clone(),
        admissions: Arc::default(),
        shutdown: shutdown.clone(),
        static_files: config.static_dir.as_ref().map(ServeDir::new),
        static_dir: config.static_dir.clone(),
    });
    let router = Router::new().fallback(dispatch).with_state(front);
    let drained = async {
        crate::http::serve(
            listener,
            router,
            handshake_timeout,
            max_head,
            shutdown.clone(),
        )
        .await;
        // The listener is closed. Connection tasks see the same token, send
        // 1001 and report on-close; each is bounded by the close timeout.
        connections.close();
        connections.wait().await;
        if let Some(admin_server) = admin_server {
            match admin_server.await {
                Ok(()) => {}
                Err(error) => tracing::error!("the admin API task failed: {error}"),
            }
        }
        deployer.shutdown().await;
    };
    // Every step above is bounded on its own; this bound holds whatever
    // went wrong, so that a signal always ends the process.
    let bound = config.limits.close_timeout() + SHUTDOWN_MARGIN;
    let overdue = async {
        shutdown.cancelled().await;
        tokio::time::sleep(bound).await;
    };
    tokio::select! {
        () = drained => Ok(()),
        () = overdue => anyhow::bail!(
            "shutdown did not finish within close_timeout_ms + {} s; exiting with {} connections \
             still open (their apps may not have heard on-close)",
            SHUTDOWN_MARGIN.as_secs(),
            connections.len()
        ),
    }
}

/// How much longer than `close_timeout_ms` shutdown may take, for the apps
/// to run their last `on-close` calls and stop, before the host exits
/// regardless (status 1, with a line saying what was left).
pub const SHUTDOWN_MARGIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Every request on the WebSocket listener: an app's route upgrades, any
/// other path is a static file (or 404).
async fn dispatch(
    State(front): State<Arc<Front>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let path = request.uri().path();
    if let Some(route) = front.deployer.route(path) {
        // A browser opening an app's route as a page (`/rooms`) is sent to
        // the app's page, when the static files have one (`/rooms/`).
        if request.method() == axum::http::Method::GET
            && !handshake::asks_for_upgrade(request.headers())
            && let Some(page) = front.page_for(path)
        {
            return axum::response::Redirect::permanent(&page).into_response();
        }
        return accept_websocket(&front, route, remote, request).await;
    }
    match &front.static_files {
        Some(files) => match files.clone().oneshot(request).await {
            Ok(response) => response.into_response(),
            Err(never) => match never {},
        },
        None => handshake::refuse(StatusCode::NOT_FOUND, "no app on this path"),
    }
}

impl Front {
    /// `ROUTE/`, when the static files have a folder for an app's route
    /// with an index page in it.
    fn page_for(&self, route: &str) -> Option<String> {
        let dir = self.static_dir.as_ref()?;
        let folder = dir.join(route.trim_start_matches('/'));
        folder
            .join("index.html")
            .is_file()
            .then(|| format!("{route}/"))
    }
}

/// An app's route: validate the upgrade, admit it (caps, the app's
/// rules), ask the app (`on-open`), then upgrade or answer with the app's
/// status.
async fn accept_websocket(
    front: &Front,
    route: Route,
    remote: SocketAddr,
    mut request: Request,
) -> Response {
    if let Err(refusal) =
        handshake::validate(request.method(), request.version(), request.headers())
    {
        return refusal;
    }
    if front.shutdown.is_cancelled() {
        return handshake::refuse(StatusCode::SERVICE_UNAVAILABLE, "server shutting down");
    }
    let app = route.app;
    let admitted = front
        .admissions
        .admit(remote.ip(), &front.limits)
        .and_then(|admission| {
            route
                .policy
                .check(request.headers(), app.live_connections())
                .map(|()| admission)
        });
    let admission = match admitted {
        Ok(admission) => admission,
        Err(Refusal { status, reason }) => {
            tracing::info!(app = &**app.name(), %remote, status = status.as_u16(), "refused: {reason}");
            return handshake::refuse(status, reason);
        }
    };
    let connection = ConnectionId::next();
    let (outbox, outbox_receiver) = outbox(front.limits.max_outbox_bytes);
    let (decision_sender, decision) = oneshot::channel();
    let mut described = handshake::describe(request.uri(), request.headers(), remote);
    route
        .policy
        .filter_subprotocols(&mut described.subprotocols);
    let open = AppEvent::Open {
        connection,
        request: described,
        outbox,
        decision: decision_sender,
    };
    if app.post(open).await.is_err() {
        return handshake::refuse(StatusCode::SERVICE_UNAVAILABLE, "app stopped");
    }
    let mut pending = PendingOpen {
        app: app.clone(),
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
    // They bound the inflated size too, so a compressed bomb gets 1009.
    let message_limit = front.limits.max_message_bytes;
    let frame_limit = front.limits.max_frame_bytes.min(message_limit);
    let mut options = yawc::Options::default()
        .with_utf8()
        .with_max_payload_read(frame_limit.saturating_add(1))
        .with_max_read_buffer(message_limit.saturating_add(1))
        .with_fragment_timeout(front.limits.idle_timeout())
        .with_read_buffer_capacity(SOCKET_BUFFER_BYTES)
        .with_write_buffer_capacity(SOCKET_BUFFER_BYTES)
        .with_no_delay();
    // yawc's answer to the client's offers would not always be RFC 7692's
    // (see `negotiate_deflate`), so the host negotiates, answers, and
    // tells yawc what was agreed.
    let deflate = route
        .policy
        .compression
        .then(|| handshake::negotiate_deflate(request.headers()))
        .flatten();
    // The upgraded stream is taken here rather than through yawc's upgrade
    // future, so that it can be wrapped in the `strict` reader; yawc still
    // writes the handshake response.
    let upgraded = hyper::upgrade::on(&mut request);
    // Without compression in its options yawc answers no extension.
    let mut response = match yawc::WebSocket::upgrade_with_options(&mut request, options.clone()) {
        Ok((response, _)) => response,
        Err(error) => {
            // Accepted by the app, so it must still hear on-close.
            connection::report_close(
                &app,
                connection,
                close_code::ABNORMAL_CLOSURE,
                error.to_string(),
            )
            .await;
            return handshake::refuse(StatusCode::BAD_REQUEST, error.to_string());
        }
    };
    if let Some(agreed) = &deflate
        && let Ok(value) = HeaderValue::from_str(agreed)
    {
        // Fast deflate: a realtime server trades a little ratio for latency.
        options = options.with_low_latency_compression();
        response
            .headers_mut()
            .insert(header::SEC_WEBSOCKET_EXTENSIONS, value);
    }
    let extensions = response
        .headers()
        .get(header::SEC_WEBSOCKET_EXTENSIONS)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    let shutdown = front.shutdown.clone();
    let settings = ConnectionSettings {
        close_timeout: front.limits.close_timeout(),
        idle_timeout: front.limits.idle_timeout(),
        max_messages_per_second: route
            .policy
            .max_messages_per_second
            .unwrap_or(front.limits.max_messages_per_second),
    };
    // The upgrade runs boxed and hands back the connection's future, which
    // the task then becomes (`then`): what only the upgrade needs (yawc's
    // options, the extensions) is freed once it completes, and nothing is
    // kept beside the connection's own state for its life. An `async` block
    // here would hold its captures and the awaited future both, and cost
    // every idle connection a third more memory.
    let upgrade = Box::pin(async move {
        let upgraded = upgraded
            .await
            .map_err(|error| error.to_string())
            .and_then(|io| {
                let encoding = FrameEncoding::agreed(extensions.as_deref());
                let deflate = encoding != FrameEncoding::Plain;
                let (reader, verdict) = StrictReader::new(TokioIo::new(io), deflate);
                yawc::WebSocket::from_stream_with_extensions(
                    reader,
                    yawc::Role::Server,
                    extensions.as_deref(),
                    options,
                )
                .map(|websocket| (websocket, verdict, encoding))
                .map_err(|error| error.to_string())
            });
        match upgraded {
            Ok((websocket, verdict, encoding)) => {
                let accepted = connection::Accepted {
                    connection,
                    app,
                    outbox: outbox_receiver,
                    admission,
                    encoding,
                };
                Ok(connection::serve(
                    websocket, verdict, accepted, shutdown, settings,
                ))
            }
            Err(error) => Err((app, admission, error)),
        }
    });
    let task = upgrade.then(move |upgraded| match upgraded {
        Ok(serving) => Either::Left(serving),
        Err((app, admission, error)) => Either::Right(async move {
            connection::report_close(&app, connection, close_code::ABNORMAL_CLOSURE, error).await;
            drop(admission);
        }),
    });
    front.connections.spawn(task);

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
                connection::report_close(&app, connection, close_code::ABNORMAL_CLOSURE, reason)
                    .await;
            }
        });
    }
}
