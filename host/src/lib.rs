//! Switchboard: a WebSocket host whose application logic runs as WebAssembly
//! components. The host owns every socket, the HTTP upgrade and all RFC 6455
//! framing; apps see whole messages through the WIT world in `wit/`.
//!
//! How one message flows: `server` accepts and upgrades, `connection` reads
//! frames and hands whole messages to the app's mailbox, `app` runs the guest
//! (`guest`) one event at a time, and guest calls push replies into each
//! connection's `outbox`, which the connection task writes out (a broadcast
//! pushes one `fanout` message, encoded once for every recipient). `deploy`
//! puts new versions in place under open connections; `admin` is its HTTP
//! API (the command line's client of it lives in the binary's `cli`).
//! `feeds` follows the files
//! the config grants apps; `kv` is their key-value storage (on disk, or in
//! memory for tests). `native` holds the built-in
//! Rust apps the benchmark compares guests against. `harness` drives one app
//! in-process, without sockets, for app authors' tests.

pub mod admin;
pub mod admission;
pub mod app;
pub mod close_code;
pub mod config;
pub mod connection;
pub mod deploy;
pub mod engine;
pub mod fanout;
pub mod feeds;
pub mod guest;
pub mod handshake;
pub mod harness;
pub mod http;
pub mod kv;
pub mod native;
pub mod outbox;
pub mod scheduling;
pub mod server;
pub mod shutdown;
pub mod strict;
