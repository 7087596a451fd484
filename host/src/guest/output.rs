//! A guest's stdout and stderr, forwarded line by line to the host log,
//! tagged with the app: stdout at `info`, stderr at `warn`.
//!
//! Rust guests print their panic message to stderr right before they trap;
//! without this, the log would say only that the app trapped, not why.
//! JavaScript's `console.log` and Python's `print` write to stdout, the
//! first place an app author looks.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// A line longer than this is logged in pieces rather than held in memory.
const MAX_LINE_BYTES: usize = 4096;

#[derive(Clone)]
pub struct GuestOutput {
    app_name: Arc<str>,
    stream: Stream,
    pending: Arc<Mutex<Vec<u8>>>,
}

/// Which of the guest's two output streams this is.
#[derive(Clone, Copy)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl GuestOutput {
    pub fn new(app_name: Arc<str>, stream: Stream) -> Self {
        GuestOutput {
            app_name,
            stream,
            pending: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn write_bytes(&self, bytes: &[u8]) {
        let mut pending = self
            .pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for &byte in bytes {
            if byte == b'\n' || pending.len() >= MAX_LINE_BYTES {
                self.emit(&pending);
                pending.clear();
                if byte == b'\n' {
                    continue;
                }
            }
            pending.push(byte);
        }
    }

    fn emit(&self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        match self.stream {
            Stream::Stdout => {
                tracing::info!(target: "guest", app = &*self.app_name, "stdout: {text}")
            }
            Stream::Stderr => {
                tracing::warn!(target: "guest", app = &*self.app_name, "stderr: {text}")
            }
        }
    }
}

impl Drop for GuestOutput {
    fn drop(&mut self) {
        // The last clone flushes a final line that had no newline.
        if Arc::strong_count(&self.pending) == 1 {
            let pending = self
                .pending
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if !pending.is_empty() {
                self.emit(&pending);
            }
        }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.write_bytes(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(MAX_LINE_BYTES)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.write_bytes(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
