//! `bare-echo`: the floor under the host's echo figures. A WebSocket echo
//! server with nothing but tokio and yawc (the host's own WebSocket crate,
//! with the host's buffer sizes): no admission, no app, no actor, no
//! outbox. Whatever the host costs per message above this server is the
//! host's; what this server costs is the kernel's TCP path and the frame
//! layer, which no design above the socket can remove.
//!
//!     bare-echo [IP:PORT]     prints `bare-echo listening on ws://ADDR/echo`
//!
//! One runtime thread, like the host's connection tasks on one pinned core.

use std::net::SocketAddr;

use anyhow::Context as _;
use futures::{SinkExt as _, StreamExt as _};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use yawc::{OpCode, WebSocket};

/// The host's own buffer size (host/src/server.rs), so the floor is
/// measured with the same per-connection buffers.
const SOCKET_BUFFER_BYTES: usize = 256;

fn main() -> anyhow::Result<()> {
    let listen: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_string())
        .parse()
        .context("expected IP:PORT")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(serve(listen))
}

async fn serve(listen: SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr().context("no local address")?;
    println!("bare-echo listening on ws://{address}/echo");
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                eprintln!("accept failed: {error}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(|mut request: hyper::Request<Incoming>| async move {
                let options = yawc::Options::default()
                    .with_utf8()
                    .with_read_buffer_capacity(SOCKET_BUFFER_BYTES)
                    .with_write_buffer_capacity(SOCKET_BUFFER_BYTES)
                    .with_no_delay();
                let (response, upgrade) = WebSocket::upgrade_with_options(&mut request, options)?;
                tokio::spawn(async move {
                    if let Ok(websocket) = upgrade.await {
                        echo(websocket).await;
                    }
                });
                Ok::<_, yawc::WebSocketError>(response.map(|_: Empty<Bytes>| Empty::<Bytes>::new()))
            });
            let connection = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            let _ = connection.await;
        });
    }
}

async fn echo(mut websocket: yawc::HttpWebSocket) {
    while let Some(frame) = websocket.next().await {
        // yawc answers pings and the closing handshake itself.
        let echoed = match frame.opcode() {
            OpCode::Text | OpCode::Binary => websocket.send(frame).await.is_ok(),
            OpCode::Close => false,
            _ => true,
        };
        if !echoed {
            return;
        }
    }
}
