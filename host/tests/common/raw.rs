//! A raw WebSocket client over TCP, for frames no well-behaved client
//! library would send: reserved bits, unknown opcodes, bad fragments,
//! unmasked frames, compressed frames built by hand.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::PATIENCE;

pub const CONTINUATION: u8 = 0x0;
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xa;

/// One frame as it was on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    pub fin: bool,
    /// RSV1..RSV3 as the top three bits of a nibble: 0b100 is RSV1.
    pub rsv: u8,
    pub opcode: u8,
    pub masked: bool,
    pub payload: Vec<u8>,
}

impl RawFrame {
    /// The close code of a close frame (1005 when it carries none).
    pub fn close_code(&self) -> u16 {
        match self.payload.as_slice() {
            [high, low, ..] => u16::from_be_bytes([*high, *low]),
            _ => 1005,
        }
    }
}

/// One frame's bytes, masked as a client must (unless `masked` is false).
pub fn encode(fin: bool, rsv: u8, opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut frame = vec![(u8::from(fin) << 7) | ((rsv & 0b111) << 4) | (opcode & 0x0f)];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        len @ 0..=125 => frame.push(mask_bit | len as u8),
        len @ 126..=0xffff => {
            frame.push(mask_bit | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            frame.push(mask_bit | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    if masked {
        let mask = [0x37u8, 0xfa, 0x21, 0x3d];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    } else {
        frame.extend_from_slice(payload);
    }
    frame
}

pub struct RawClient {
    pub stream: TcpStream,
    /// The server's response head (status line and headers).
    pub response: String,
}

impl RawClient {
    /// Send an upgrade request for `path` with `extra_headers` (each
    /// "Name: value") and read the response head, byte by byte so no frame
    /// is eaten.
    pub async fn upgrade(address: &str, path: &str, extra_headers: &[&str]) -> RawClient {
        let mut stream = TcpStream::connect(address).await.expect("connect");
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        );
        for header in extra_headers {
            request.push_str(header);
            request.push_str("\r\n");
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            let read = tokio::time::timeout(PATIENCE, stream.read(&mut byte))
                .await
                .expect("response in time")
                .expect("read");
            assert_eq!(read, 1, "connection closed during the handshake");
            head.push(byte[0]);
        }
        let response = String::from_utf8_lossy(&head).into_owned();
        assert!(response.starts_with("HTTP/1.1 101"), "{response}");
        RawClient { stream, response }
    }

    /// Send one frame, masked as a client must (unless `masked` is false).
    pub async fn send(&mut self, fin: bool, rsv: u8, opcode: u8, payload: &[u8], masked: bool) {
        let frame = encode(fin, rsv, opcode, payload, masked);
        self.send_bytes(&frame).await;
    }

    /// Send bytes as they are, in one write: several frames arrive together.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        // The server may already have closed on an earlier frame.
        let _ = self.stream.write_all(bytes).await;
    }

    /// A whole, unfragmented, masked frame.
    pub async fn send_frame(&mut self, opcode: u8, payload: &[u8]) {
        self.send(true, 0, opcode, payload, true).await;
    }

    /// The next frame from the server; `None` when it closed the TCP
    /// connection.
    pub async fn read_frame(&mut self) -> Option<RawFrame> {
        tokio::time::timeout(PATIENCE, self.read_frame_now())
            .await
            .expect("a frame or the end of the connection in time")
    }

    async fn read_frame_now(&mut self) -> Option<RawFrame> {
        let mut header = [0u8; 2];
        self.stream.read_exact(&mut header).await.ok()?;
        let masked = header[1] & 0x80 != 0;
        let length = match header[1] & 0x7f {
            126 => {
                let mut length = [0u8; 2];
                self.stream.read_exact(&mut length).await.ok()?;
                usize::from(u16::from_be_bytes(length))
            }
            127 => {
                let mut length = [0u8; 8];
                self.stream.read_exact(&mut length).await.ok()?;
                usize::try_from(u64::from_be_bytes(length)).ok()?
            }
            length => usize::from(length),
        };
        let mut mask = [0u8; 4];
        if masked {
            self.stream.read_exact(&mut mask).await.ok()?;
        }
        let mut payload = vec![0u8; length];
        self.stream.read_exact(&mut payload).await.ok()?;
        if masked {
            payload
                .iter_mut()
                .zip(mask.iter().cycle())
                .for_each(|(byte, m)| *byte ^= m);
        }
        Some(RawFrame {
            fin: header[0] & 0x80 != 0,
            rsv: (header[0] >> 4) & 0b111,
            opcode: header[0] & 0x0f,
            masked,
            payload,
        })
    }

    /// Read until the server's close frame; the frames before it are
    /// returned too. Panics if the connection ends without one.
    pub async fn expect_close(&mut self) -> (RawFrame, Vec<RawFrame>) {
        let mut before = Vec::new();
        loop {
            match self.read_frame().await {
                Some(frame) if frame.opcode == CLOSE => return (frame, before),
                Some(frame) => before.push(frame),
                None => panic!("the connection ended without a close frame: {before:?}"),
            }
        }
    }

    /// Answer the server's close frame as a browser does (the same code
    /// back), then expect nothing more from it but the TCP close: a
    /// second close frame is what makes a browser report 1006.
    pub async fn answer_close_and_expect_end(&mut self, close: &RawFrame) {
        let code = close.close_code().to_be_bytes();
        self.send(true, 0, CLOSE, &code, true).await;
        self.expect_end().await;
    }

    /// Expect no more frames, only the TCP close.
    pub async fn expect_end(&mut self) {
        if let Some(frame) = self.read_frame().await {
            panic!("the server sent {frame:?} after its close frame");
        }
    }

    /// Whether the server closes the TCP connection (after answering our
    /// close), reading and dropping anything before that.
    pub async fn expect_tcp_close(&mut self) {
        let mut buffer = [0u8; 1024];
        tokio::time::timeout(PATIENCE, async {
            while let Ok(read) = self.stream.read(&mut buffer).await {
                if read == 0 {
                    return;
                }
            }
        })
        .await
        .expect("the server closed the TCP connection in time");
    }
}
