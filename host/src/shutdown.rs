//! Graceful shutdown: one token every task watches.
//!
//! On SIGINT or SIGTERM the token is cancelled: the listener stops accepting,
//! each connection sends close 1001 and waits (bounded) for the client's
//! reply, each app hears `on-close` for every connection, and only then does
//! the process exit 0. See `server::run` for the order.

use tokio_util::sync::CancellationToken;

/// Cancel `token` when the process is asked to stop.
pub fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        match wait_for_signal().await {
            Ok(signal) => tracing::info!("received {signal}, shutting down"),
            Err(error) => tracing::error!("cannot listen for shutdown signals: {error}"),
        }
        token.cancel();
    });
}

async fn wait_for_signal() -> std::io::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = terminate.recv() => "SIGTERM",
        _ = interrupt.recv() => "SIGINT",
    })
}
