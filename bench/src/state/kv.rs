//! The kv part of the state suite: what one `kv.get` or `kv.set` costs a
//! guest, measured from outside. A client asks the bench's guest
//! (examples/bench-state) for N operations in one message and times the
//! round trip; the same message asking for nothing, and for N calls that
//! copy as many bytes into or out of the host's memory without a store
//! (the connection's attachment), run in the same cycle, so
//!
//! - (kv round trip − empty round trip) / N is what one operation costs
//!   the guest: the host call and the store;
//! - the attachment's figure is the host call and the copy alone, and kv
//!   over it is what the store adds to keeping bytes in memory.
//!
//! Two servers serve the guest at once, one with `[kv] durability =
//! "buffered"` and one with `"sync"`, and every cycle visits both (each
//! idle while the other works), in an order reversed every other cycle, so
//! drift in the machine hits every figure alike. N is chosen per kind so
//! that one message takes about `BATCH_TARGET`: the round trip's own noise
//! (tens of µs) is then a small share of what is divided by N.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::SinkExt as _;
use serde::Serialize;
use yawc::Frame;

use crate::cli::{StateCommand, Target};
use crate::connection::{self, Socket};
use crate::server::Configured;
use crate::standard::median;
use crate::subject::{self, App, Subject};
use crate::topics::{next_text, ratio};

/// The route the bench serves its state guest on.
pub const ROUTE: &str = "/state";
/// Keys the guest stores and then reads and overwrites round robin.
pub const KEYS: u64 = 1000;
/// Bytes of every value: the project's small-message size.
pub const VALUE_BYTES: usize = 64;
/// About how long one measured message should take.
const BATCH_TARGET: Duration = Duration::from_millis(20);
/// The most operations one message asks for.
const MAX_OPERATIONS: u64 = 200_000;
/// The guest's call deadline on the bench's servers. A batch is sized to
/// take `BATCH_TARGET`, but a synced write on a busy disk can take far
/// longer than the host's 100 ms default allows, and a trap would end the
/// part; the time is measured, not limited.
pub const CALL_TIMEOUT_MS: u64 = 10_000;
/// One answer taking longer than this is a server that stopped answering.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// `[kv] durability` of one of the two servers (and, as a number, which
/// of the two connections talks to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    Buffered = 0,
    Sync = 1,
}

impl Durability {
    pub fn name(self) -> &'static str {
        match self {
            Durability::Buffered => "buffered",
            Durability::Sync => "sync",
        }
    }
}

/// What one message asks the guest to do N times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    /// Nothing: the message's own round trip.
    None,
    AttachGet,
    KvGet,
    AttachSet,
    KvSet,
}

impl Op {
    fn command(self) -> &'static str {
        match self {
            Op::None => "none",
            Op::AttachGet => "attach-get",
            Op::KvGet => "kv-get",
            Op::AttachSet => "attach-set",
            Op::KvSet => "kv-set",
        }
    }
}

/// Every message of a cycle, in the order of the even cycles. Reads do not
/// depend on durability, so they run on the buffered server only.
pub const CASES: [(Durability, Op); 7] = [
    (Durability::Buffered, Op::None),
    (Durability::Buffered, Op::AttachGet),
    (Durability::Buffered, Op::KvGet),
    (Durability::Buffered, Op::AttachSet),
    (Durability::Buffered, Op::KvSet),
    (Durability::Sync, Op::None),
    (Durability::Sync, Op::KvSet),
];

/// One kind of message, over every cycle.
#[derive(Debug, Serialize)]
pub struct KvCase {
    pub durability: Durability,
    pub op: Op,
    /// Operations each message asked for (0 for `none`).
    pub operations: u64,
    pub messages: usize,
    /// Median round trip of its messages, µs.
    pub round_trip_us: Option<f64>,
    /// Per operation, µs: the median over cycles of (this message's round
    /// trip − the same cycle's `none` on the same server) / operations;
    /// and the quartiles of those, for the spread.
    pub us_per_op: Option<f64>,
    pub us_per_op_p25: Option<f64>,
    pub us_per_op_p75: Option<f64>,
}

/// The figures the issue asks for, each beside its baseline.
#[derive(Debug, Serialize)]
pub struct KvSummary {
    pub keys: u64,
    pub value_bytes: usize,
    pub cycles: usize,
    /// µs per operation from the guest.
    pub get_us: Option<f64>,
    pub set_buffered_us: Option<f64>,
    pub set_sync_us: Option<f64>,
    /// µs per attachment call moving as many bytes (no store).
    pub attach_get_us: Option<f64>,
    pub attach_set_us: Option<f64>,
    /// µs of the empty message's round trip (buffered server).
    pub empty_round_trip_us: Option<f64>,
    /// kv over attachment: what the store adds to a host call.
    pub get_over_attach: Option<f64>,
    pub set_buffered_over_attach: Option<f64>,
    /// Synced over buffered sets, the same run.
    pub sync_over_buffered: Option<f64>,
}

#[derive(Debug)]
pub struct KvPart {
    pub cases: Vec<KvCase>,
    pub summary: KvSummary,
}

/// Start both servers, fill both stores, size each kind's batch, then run
/// `cycles` cycles.
pub fn run(command: &StateCommand, component: &Path) -> anyhow::Result<KvPart> {
    let target = Target {
        switchboard: command.switchboard.clone(),
        app: Some(component.to_path_buf()),
        url: None,
        server_pid: None,
        placement: command.placement,
    };
    let app = App::Wasm(component.to_path_buf());
    let limits = [("call_timeout_ms", CALL_TIMEOUT_MS)];
    let open = |durability: Durability| {
        Subject::open_with(
            &target,
            ROUTE,
            &app,
            None,
            &Configured {
                limits: &limits,
                kv_durability: Some(durability.name()),
                ..Configured::default()
            },
        )
    };
    let buffered = open(Durability::Buffered)?;
    let synced = open(Durability::Sync)?;
    subject::pin_bench(&command.placement)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let measured = runtime.block_on(measure(&buffered.url, &synced.url, command.kv_messages));
    let stopped = [buffered.stop(), synced.stop()];
    let cases = measured?;
    if let Some(failure) = stopped.into_iter().flatten().next() {
        bail!("{failure}");
    }
    let summary = summarize(&cases, command.kv_messages);
    Ok(KvPart { cases, summary })
}

async fn measure(
    buffered: &url::Url,
    synced: &url::Url,
    cycles: usize,
) -> anyhow::Result<Vec<KvCase>> {
    let mut sockets = [
        connection::open(buffered, 1024).await?,
        connection::open(synced, 1024).await?,
    ];
    for (index, url) in [buffered, synced].into_iter().enumerate() {
        ask(&mut sockets[index], &format!("fill {KEYS} {VALUE_BYTES}"))
            .await
            .with_context(|| format!("filling the store of {url}"))?;
    }
    let mut operations = Vec::with_capacity(CASES.len());
    for &(durability, op) in &CASES {
        let index = durability as usize;
        let n = if op == Op::None {
            0
        } else {
            batch_size(&mut sockets[index], op).await?
        };
        operations.push(n);
    }
    let mut round_trips = vec![Vec::with_capacity(cycles); CASES.len()];
    for cycle in 0..cycles {
        let mut order: Vec<usize> = (0..CASES.len()).collect();
        if cycle % 2 == 1 {
            order.reverse();
        }
        for case in order {
            let (durability, op) = CASES[case];
            let index = durability as usize;
            let took = ask_for(&mut sockets[index], op, operations[case]).await?;
            round_trips[case].push(took.as_secs_f64() * 1e6);
        }
    }
    for socket in &mut sockets {
        connection::close(socket).await;
    }
    Ok(cases(&operations, &round_trips))
}

/// The figures of every case from its round trips (µs, one per cycle).
fn cases(operations: &[u64], round_trips: &[Vec<f64>]) -> Vec<KvCase> {
    CASES
        .iter()
        .enumerate()
        .map(|(case, &(durability, op))| {
            let empty = CASES
                .iter()
                .position(|&(d, o)| d == durability && o == Op::None)
                .and_then(|index| round_trips.get(index));
            let n = operations[case];
            let mut per_op: Vec<f64> = match empty {
                Some(empty) if n > 0 => round_trips[case]
                    .iter()
                    .zip(empty)
                    .map(|(took, nothing)| (took - nothing) / n as f64)
                    .collect(),
                _ => Vec::new(),
            };
            per_op.sort_by(f64::total_cmp);
            KvCase {
                durability,
                op,
                operations: n,
                messages: round_trips[case].len(),
                round_trip_us: median(round_trips[case].iter().copied()),
                us_per_op: median(per_op.iter().copied()),
                us_per_op_p25: quantile(&per_op, 0.25),
                us_per_op_p75: quantile(&per_op, 0.75),
            }
        })
        .collect()
}

/// The value at quantile `q` of sorted values (nearest rank).
pub(crate) fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted.get(rank - 1).copied()
}

fn summarize(cases: &[KvCase], cycles: usize) -> KvSummary {
    let of = |durability, op| {
        cases
            .iter()
            .find(|case| case.durability == durability && case.op == op)
    };
    let per_op = |durability, op| of(durability, op).and_then(|case| case.us_per_op);
    let get_us = per_op(Durability::Buffered, Op::KvGet);
    let set_buffered_us = per_op(Durability::Buffered, Op::KvSet);
    let set_sync_us = per_op(Durability::Sync, Op::KvSet);
    let attach_get_us = per_op(Durability::Buffered, Op::AttachGet);
    let attach_set_us = per_op(Durability::Buffered, Op::AttachSet);
    KvSummary {
        keys: KEYS,
        value_bytes: VALUE_BYTES,
        cycles,
        get_us,
        set_buffered_us,
        set_sync_us,
        attach_get_us,
        attach_set_us,
        empty_round_trip_us: of(Durability::Buffered, Op::None).and_then(|case| case.round_trip_us),
        get_over_attach: ratio(get_us, attach_get_us),
        set_buffered_over_attach: ratio(set_buffered_us, attach_set_us),
        sync_over_buffered: ratio(set_sync_us, set_buffered_us),
    }
}

/// How many operations of `op` make a message of about `BATCH_TARGET`:
/// grow a trial batch until it takes a quarter of that, then scale. Each
/// trial is the quickest of `TRIALS`, so one that the machine happened to
/// delay does not shrink the batch.
async fn batch_size(socket: &mut Socket, op: Op) -> anyhow::Result<u64> {
    const TRIALS: usize = 3;
    let mut n = 4;
    loop {
        let mut took = Duration::MAX;
        for _ in 0..TRIALS {
            took = took.min(ask_for(socket, op, n).await?);
        }
        if took >= BATCH_TARGET / 4 || n >= MAX_OPERATIONS {
            let scaled = n as f64 * BATCH_TARGET.as_secs_f64() / took.as_secs_f64().max(1e-6);
            return Ok((scaled.round() as u64).clamp(1, MAX_OPERATIONS));
        }
        n = (n * 4).min(MAX_OPERATIONS);
    }
}

/// Ask for `n` operations of `op`; how long the round trip took.
async fn ask_for(socket: &mut Socket, op: Op, n: u64) -> anyhow::Result<Duration> {
    let command = match op {
        Op::None => op.command().to_string(),
        _ => format!("{} {n}", op.command()),
    };
    let started = Instant::now();
    let reply = ask(socket, &command).await?;
    let took = started.elapsed();
    check_reply(&command, &reply, n)?;
    Ok(took)
}

/// `ok N 0`: every operation done, every get found its value.
fn check_reply(command: &str, reply: &str, n: u64) -> anyhow::Result<()> {
    let mut words = reply.split_ascii_whitespace();
    let done = match (words.next(), words.next(), words.next()) {
        (Some("ok"), Some(done), Some("0")) => done.parse::<u64>().ok(),
        _ => None,
    };
    if done != Some(n) {
        bail!("the guest answered {command:?} with {reply:?}");
    }
    Ok(())
}

/// Send one command and wait for its answer.
async fn ask(socket: &mut Socket, command: &str) -> anyhow::Result<String> {
    socket
        .send(Frame::text(command.to_string()))
        .await
        .context("sending a command")?;
    let reply = tokio::time::timeout(ANSWER_TIMEOUT, next_text(socket))
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "no answer to {command:?} within {}s",
                ANSWER_TIMEOUT.as_secs()
            )
        })??;
    String::from_utf8(reply.to_vec()).context("the guest's answer is not UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operation_costs_its_message_less_the_empty_one() {
        // Two cycles of every case: the empty message 100 µs (buffered)
        // and 200 µs (sync), every other one 1000 µs more.
        let operations: Vec<u64> = CASES
            .iter()
            .map(|&(_, op)| if op == Op::None { 0 } else { 100 })
            .collect();
        let round_trips: Vec<Vec<f64>> = CASES
            .iter()
            .map(|&(durability, op)| {
                let base = if durability == Durability::Sync {
                    200.0
                } else {
                    100.0
                };
                let extra = if op == Op::None { 0.0 } else { 1000.0 };
                vec![base + extra, base + extra]
            })
            .collect();
        let cases = cases(&operations, &round_trips);
        for case in &cases {
            if case.op == Op::None {
                assert_eq!(case.us_per_op, None);
            } else {
                assert_eq!(case.us_per_op, Some(10.0), "{case:?}");
            }
        }
        let summary = summarize(&cases, 2);
        assert_eq!(summary.sync_over_buffered, Some(1.0));
        assert_eq!(summary.empty_round_trip_us, Some(100.0));
    }

    #[test]
    fn a_reply_must_say_every_operation_was_done() {
        assert!(check_reply("kv-get 5", "ok 5 0", 5).is_ok());
        assert!(check_reply("kv-get 5", "ok 5 1", 5).is_err());
        assert!(check_reply("kv-get 5", "ok 4 0", 5).is_err());
        assert!(check_reply("kv-get 5", "error kv get: StorageFailed", 5).is_err());
        assert!(check_reply("none", "ok 0 0", 0).is_ok());
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let values = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&values, 0.25), Some(1.0));
        assert_eq!(quantile(&values, 0.75), Some(3.0));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
