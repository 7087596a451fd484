//! Graceful shutdown: one token every task watches.
//!
//! On SIGINT or SIGTERM the token is cancelled: the listener stops accepting,
//! each connection sends close 1001 and waits (bounded) for the client's
//! reply, each app hears `on-close` for every connection, and only then does
//! the process exit 0. See `server::run` for the order.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

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

/// `token.cancelled()` for a future polled on every wake-up of its task, as
/// a connection's is on every message. Each poll of `cancelled()` takes two
/// locks, one of them on the list of every task waiting for the token
/// (callgrind: ~690 instructions per echoed message). This registers the
/// task's waker there once, and afterwards only reads the token's flag
/// until the task's waker changes.
pub struct Cancelled<'pin, 'token> {
    token: &'token CancellationToken,
    waiting: Pin<&'pin mut WaitForCancellationFuture<'token>>,
    registered: Option<Waker>,
}

impl<'pin, 'token> Cancelled<'pin, 'token> {
    /// `waiting` is `token.cancelled()`, pinned by the caller.
    pub fn new(
        token: &'token CancellationToken,
        waiting: Pin<&'pin mut WaitForCancellationFuture<'token>>,
    ) -> Self {
        Cancelled {
            token,
            waiting,
            registered: None,
        }
    }
}

impl Future for Cancelled<'_, '_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.token.is_cancelled() {
            return Poll::Ready(());
        }
        // Cancelling sets the flag before it wakes the registered waker, so
        // a task woken by it sees the flag above.
        if self
            .registered
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()))
        {
            return Poll::Pending;
        }
        let polled = self.waiting.as_mut().poll(cx);
        if polled.is_pending() {
            self.registered = Some(cx.waker().clone());
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wakes_its_task_when_the_token_is_cancelled() {
        let token = CancellationToken::new();
        let canceller = token.clone();
        let waiting = token.cancelled();
        tokio::pin!(waiting);
        let mut cancelled = Cancelled::new(&token, waiting);
        // Polled often before the cancel, as a busy connection's task is.
        for _ in 0..3 {
            let pending = std::future::poll_fn(|cx| {
                Poll::Ready(Pin::new(&mut cancelled).poll(cx).is_pending())
            })
            .await;
            assert!(pending);
        }
        // Later, so that the task is asleep in the wait, not polling.
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            canceller.cancel();
        });
        tokio::time::timeout(std::time::Duration::from_secs(10), cancelled)
            .await
            .expect("the cancel woke the waiting task");
    }
}
