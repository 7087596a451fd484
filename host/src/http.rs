//! The HTTP/1.1 accept loop under both listeners.
//!
//! axum's own `serve` cannot bound how long a client takes to send its
//! request head, and a client that sends one header line a minute ("slowloris")
//! would hold a socket forever. This loop is axum's, with hyper's header read
//! timeout (`limits.handshake_timeout_ms`) set, the request head capped
//! (`limits.max_request_head_bytes`, answered 431 by hyper) so a client
//! cannot make every connection hold hyper's default 400 KiB, upgrades enabled for
//! WebSockets, the peer's address handed to handlers as `ConnectInfo`, and a
//! graceful shutdown that lets requests in flight finish.

use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;

/// Accept and serve HTTP connections until `shutdown`, then wait for the
/// requests in flight. Upgraded (WebSocket) connections are not waited for
/// here: they belong to their connection tasks from the upgrade on.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    handshake_timeout: Duration,
    max_request_head_bytes: usize,
    shutdown: CancellationToken,
) {
    let connections = TaskTracker::new();
    loop {
        let (stream, remote) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, or the peer left before we
                    // accepted: wait a moment rather than spin, then go on.
                    tracing::warn!("accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = router
            .clone()
            .map_request(move |mut request: http::Request<Incoming>| {
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(remote));
                request.map(axum::body::Body::new)
            });
        let service = TowerToHyperService::new(service);
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(handshake_timeout)
                // The request line and headers together; past it hyper
                // answers 431 Request Header Fields Too Large and closes.
                // (`max_buf_size` would cap body reads and response writes
                // too, and panics below 8 KiB.)
                .max_header_size(max_request_head_bytes);
            let connection = builder
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            let mut connection = pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%remote, "connection ended: {error}");
                    }
                    return;
                }
                () = shutdown.cancelled() => connection.as_mut().graceful_shutdown(),
            }
            if let Err(error) = connection.await {
                tracing::debug!(%remote, "connection ended: {error}");
            }
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}
