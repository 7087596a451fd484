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
//!   over it is what the store adds to keeping bytes in memory;
//! - the same operations on the host's own store (`switchboard::kv::
//!   DiskStore`, the same durability) called directly by a thread of the
//!   bench pinned to the servers' core and scheduled as the host schedules
//!   an app's thread (`SCHED_BATCH`), so the same core, shared with the
//!   same other load, does the work the same way, are the floor: kv over
//!   it is what reaching the store from a guest, through a message, the
//!   app's actor and a host call, adds.
//!
//! Two servers serve the guest at once, one with `[kv] durability =
//! "buffered"` and one with `"sync"`, and every cycle visits both (each
//! idle while the other works), in an order reversed every other cycle, so
//! drift in the machine hits every figure alike. N is chosen per kind so
//! that one message takes about `BATCH_TARGET`: the round trip's own noise
//! (tens of µs) is then a small share of what is divided by N.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::SinkExt as _;
use serde::Serialize;
use yawc::Frame;

use switchboard::config::DEFAULT_KV_SYNC_INTERVAL_MS;
use switchboard::kv::{DiskStore, KvStore as _, Quota};

use crate::cli::{StateCommand, Target};
use crate::connection::{self, Socket};
use crate::cpu::CoreSet;
use crate::process::TempDir;
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

/// What one message asks the guest to do N times, or (`direct-*`) what
/// the bench does N times on a store of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    /// Nothing: the message's own round trip.
    None,
    AttachGet,
    KvGet,
    DirectGet,
    AttachSet,
    KvSet,
    DirectSet,
    /// A direct set by the thread at the normal policy (`SCHED_OTHER`)
    /// instead of the app thread's: what `SCHED_BATCH` costs a synced
    /// write, whose thread sleeps in the fsync and must then be woken.
    DirectSetNormalPolicy,
}

impl Op {
    fn command(self) -> &'static str {
        match self {
            Op::None => "none",
            Op::AttachGet => "attach-get",
            Op::KvGet => "kv-get",
            Op::DirectGet => "direct get",
            Op::AttachSet => "attach-set",
            Op::KvSet => "kv-set",
            Op::DirectSet => "direct set",
            Op::DirectSetNormalPolicy => "direct set at the normal policy",
        }
    }

    /// Done in the bench's process, not asked of the guest: no message
    /// round trip to take away.
    fn is_direct(self) -> bool {
        matches!(
            self,
            Op::DirectGet | Op::DirectSet | Op::DirectSetNormalPolicy
        )
    }
}

/// Every kind of a cycle, in the order of the even cycles. Reads do not
/// depend on durability, so they run on the buffered side only.
pub const CASES: [(Durability, Op); 11] = [
    (Durability::Buffered, Op::None),
    (Durability::Buffered, Op::AttachGet),
    (Durability::Buffered, Op::KvGet),
    (Durability::Buffered, Op::DirectGet),
    (Durability::Buffered, Op::AttachSet),
    (Durability::Buffered, Op::KvSet),
    (Durability::Buffered, Op::DirectSet),
    (Durability::Sync, Op::None),
    (Durability::Sync, Op::KvSet),
    (Durability::Sync, Op::DirectSet),
    (Durability::Sync, Op::DirectSetNormalPolicy),
];

/// The app name the bench's own stores file their keys under.
const DIRECT_APP: &str = "bench";

/// One kind of message, over every cycle.
#[derive(Debug, Serialize)]
pub struct KvCase {
    pub durability: Durability,
    pub op: Op,
    /// Operations each message (or direct batch) did (0 for `none`).
    pub operations: u64,
    pub messages: usize,
    /// Median round trip of its messages (time of a direct batch), µs.
    pub round_trip_us: Option<f64>,
    /// Per operation, µs: the median over cycles of (this message's round
    /// trip − the same cycle's `none` on the same server) / operations (a
    /// direct batch's time / operations); and the quartiles of those, for
    /// the spread.
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
    /// µs per operation on the host's store called directly.
    pub direct_get_us: Option<f64>,
    pub direct_set_buffered_us: Option<f64>,
    pub direct_set_sync_us: Option<f64>,
    /// kv over attachment: what the store adds to a host call.
    pub get_over_attach: Option<f64>,
    pub set_buffered_over_attach: Option<f64>,
    /// From a guest over direct: what the way from a guest adds.
    pub get_over_direct: Option<f64>,
    pub set_buffered_over_direct: Option<f64>,
    pub set_sync_over_direct: Option<f64>,
    /// Synced over buffered sets, the same run.
    pub sync_over_buffered: Option<f64>,
    /// A direct synced set at the normal policy, and the app thread's
    /// policy over it: what `SCHED_BATCH` adds to a synced write here.
    pub direct_set_sync_normal_policy_us: Option<f64>,
    pub sync_batch_over_normal_policy: Option<f64>,
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
        switchboard: command.suite.switchboard.clone(),
        app: Some(component.to_path_buf()),
        url: None,
        server_pid: None,
        placement: command.suite.placement,
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
    subject::pin_bench(&command.suite.placement)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let core = subject::server_core(&command.suite.placement)?;
    let measured = runtime.block_on(measure(
        &buffered.url,
        &synced.url,
        command.kv_messages,
        core,
    ));
    let stopped = [buffered.stop(), synced.stop()];
    let cases = measured?;
    if let Some(failure) = stopped.into_iter().flatten().next() {
        bail!("{failure}");
    }
    let summary = summarize(&cases, command.kv_messages);
    Ok(KvPart { cases, summary })
}

/// Everything a cycle talks to: a connection to each server, and the
/// bench's own stores.
struct Load {
    sockets: [Socket; 2],
    direct: Direct,
}

impl Load {
    async fn open(
        buffered: &url::Url,
        synced: &url::Url,
        core: Option<CoreSet>,
    ) -> anyhow::Result<Load> {
        let mut sockets = [
            connection::open(buffered, 1024).await?,
            connection::open(synced, 1024).await?,
        ];
        for (index, url) in [buffered, synced].into_iter().enumerate() {
            ask(&mut sockets[index], &format!("fill {KEYS} {VALUE_BYTES}"))
                .await
                .with_context(|| format!("filling the store of {url}"))?;
        }
        Ok(Load {
            sockets,
            direct: Direct::start(core)?,
        })
    }

    /// Do `n` operations of one kind; how long they took (a message's
    /// round trip, for the guest's).
    async fn time(&mut self, durability: Durability, op: Op, n: u64) -> anyhow::Result<Duration> {
        if op.is_direct() {
            // The runtime waits: nothing else of the bench runs meanwhile.
            self.direct.time(durability, op, n)
        } else {
            ask_for(&mut self.sockets[durability as usize], op, n).await
        }
    }
}

/// A batch for the direct stores: its durability, kind and size.
type Batch = (Durability, Op, u64);

/// The host's store called directly, one for each durability, on a thread
/// of its own pinned to the servers' core (fjall's own threads, started
/// from it, inherit the pin, as the host's do), filled like the guest's,
/// then scheduled as an app's actor thread is (`SCHED_BATCH`: no wake-up
/// preemption, which matters when a synced write wakes it on a busy core).
struct Direct {
    batches: Option<mpsc::Sender<Batch>>,
    timings: mpsc::Receiver<anyhow::Result<Duration>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Direct {
    fn start(core: Option<CoreSet>) -> anyhow::Result<Direct> {
        let (batches, work) = mpsc::channel::<Batch>();
        let (report, timings) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("direct-kv".to_string())
            .spawn(move || {
                let stores = core
                    .map_or(Ok(()), |core| core.pin_current_thread())
                    .and_then(|()| DirectStores::open());
                let mut stores = match stores {
                    Ok(stores) => {
                        // After the stores' own threads started, which the
                        // host starts at normal policy too.
                        switchboard::scheduling::batch_app_thread();
                        let _ = report.send(Ok(Duration::ZERO));
                        stores
                    }
                    Err(error) => {
                        let _ = report.send(Err(error));
                        return;
                    }
                };
                for (durability, op, n) in work {
                    if report.send(stores.time(durability, op, n)).is_err() {
                        break;
                    }
                }
            })
            .context("cannot start the direct store's thread")?;
        let direct = Direct {
            batches: Some(batches),
            timings,
            thread: Some(thread),
        };
        direct.reply()?;
        Ok(direct)
    }

    fn time(&self, durability: Durability, op: Op, n: u64) -> anyhow::Result<Duration> {
        self.batches
            .as_ref()
            .context("the direct store is closed")?
            .send((durability, op, n))
            .map_err(|_| anyhow::anyhow!("the direct store's thread ended"))?;
        self.reply()
    }

    fn reply(&self) -> anyhow::Result<Duration> {
        self.timings
            .recv()
            .map_err(|_| anyhow::anyhow!("the direct store's thread ended"))?
    }
}

impl Drop for Direct {
    fn drop(&mut self) {
        // Ends the thread's loop; it closes its stores and removes them.
        self.batches = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Put the calling thread back at Linux's normal policy (`SCHED_OTHER`).
fn normal_policy() {
    let parameters = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler only reads `parameters`; pid 0 means the
    // calling thread alone.
    unsafe { libc::sched_setscheduler(0, libc::SCHED_OTHER, &parameters) };
}

/// The stores the direct thread owns.
struct DirectStores {
    stores: [DiskStore; 2],
    /// Where the stores are; removed when dropped, after the stores.
    _dirs: [TempDir; 2],
    keys: Vec<String>,
    value: Vec<u8>,
    /// Sets so far, written into the value as the guest does.
    sets: u64,
}

impl DirectStores {
    fn open() -> anyhow::Result<DirectStores> {
        let dirs = [TempDir::new("kv-buffered")?, TempDir::new("kv-sync")?];
        let open = |dir: &TempDir, durability| {
            DiskStore::open(dir.path(), durability)
                .with_context(|| format!("cannot open a store in {}", dir.path().display()))
        };
        let stores = [
            open(
                &dirs[0],
                switchboard::kv::Durability::Buffered {
                    sync_interval: Duration::from_millis(DEFAULT_KV_SYNC_INTERVAL_MS),
                },
            )?,
            open(&dirs[1], switchboard::kv::Durability::Sync)?,
        ];
        let direct = DirectStores {
            stores,
            _dirs: dirs,
            keys: (0..KEYS).map(|i| format!("bench/{i}")).collect(),
            value: vec![b'v'; VALUE_BYTES],
            sets: 0,
        };
        for store in &direct.stores {
            for key in &direct.keys {
                store
                    .set(DIRECT_APP, key, &direct.value, Quota::UNLIMITED)
                    .map_err(|error| anyhow::anyhow!("filling the bench's store: {error}"))?;
            }
        }
        Ok(direct)
    }

    fn time(&mut self, durability: Durability, op: Op, n: u64) -> anyhow::Result<Duration> {
        if op == Op::DirectSetNormalPolicy {
            normal_policy();
            let took = self.time(durability, Op::DirectSet, n);
            switchboard::scheduling::batch_app_thread();
            return took;
        }
        let store = &self.stores[durability as usize];
        let started = Instant::now();
        for key in self.keys.iter().cycle().take(n as usize) {
            if op == Op::DirectGet {
                let found = store
                    .get(DIRECT_APP, key)
                    .map_err(|error| anyhow::anyhow!("direct get: {error}"))?;
                if found.is_none_or(|value| value.len() != VALUE_BYTES) {
                    bail!("direct get of {key} found no {VALUE_BYTES}-byte value");
                }
            } else {
                self.sets += 1;
                let count = self.sets.to_le_bytes();
                self.value[..count.len()].copy_from_slice(&count);
                store
                    .set(DIRECT_APP, key, &self.value, Quota::UNLIMITED)
                    .map_err(|error| anyhow::anyhow!("direct set: {error}"))?;
            }
        }
        Ok(started.elapsed())
    }
}

async fn measure(
    buffered: &url::Url,
    synced: &url::Url,
    cycles: usize,
    core: Option<CoreSet>,
) -> anyhow::Result<Vec<KvCase>> {
    let mut load = Load::open(buffered, synced, core).await?;
    let mut operations = Vec::with_capacity(CASES.len());
    for &(durability, op) in &CASES {
        let n = if op == Op::None {
            0
        } else {
            batch_size(&mut load, durability, op).await?
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
            let took = load.time(durability, op, operations[case]).await?;
            round_trips[case].push(took.as_secs_f64() * 1e6);
        }
    }
    for socket in &mut load.sockets {
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
                _ if n > 0 && op.is_direct() => round_trips[case]
                    .iter()
                    .map(|took| took / n as f64)
                    .collect(),
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
    let direct_get_us = per_op(Durability::Buffered, Op::DirectGet);
    let direct_set_buffered_us = per_op(Durability::Buffered, Op::DirectSet);
    let direct_set_sync_us = per_op(Durability::Sync, Op::DirectSet);
    let direct_set_sync_normal_policy_us = per_op(Durability::Sync, Op::DirectSetNormalPolicy);
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
        direct_get_us,
        direct_set_buffered_us,
        direct_set_sync_us,
        get_over_attach: ratio(get_us, attach_get_us),
        set_buffered_over_attach: ratio(set_buffered_us, attach_set_us),
        get_over_direct: ratio(get_us, direct_get_us),
        set_buffered_over_direct: ratio(set_buffered_us, direct_set_buffered_us),
        set_sync_over_direct: ratio(set_sync_us, direct_set_sync_us),
        sync_over_buffered: ratio(set_sync_us, set_buffered_us),
        direct_set_sync_normal_policy_us,
        sync_batch_over_normal_policy: ratio(direct_set_sync_us, direct_set_sync_normal_policy_us),
    }
}

/// How many operations of `op` make a message of about `BATCH_TARGET`:
/// grow a trial batch until it takes a quarter of that, then scale. Each
/// trial is the quickest of `TRIALS`, so one that the machine happened to
/// delay does not shrink the batch.
async fn batch_size(load: &mut Load, durability: Durability, op: Op) -> anyhow::Result<u64> {
    const TRIALS: usize = 3;
    let mut n = 4;
    loop {
        let mut took = Duration::MAX;
        for _ in 0..TRIALS {
            took = took.min(load.time(durability, op, n).await?);
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
            match case.op {
                Op::None => assert_eq!(case.us_per_op, None),
                // A direct batch has no message to take away.
                Op::DirectGet | Op::DirectSet | Op::DirectSetNormalPolicy => {
                    assert!(case.us_per_op.unwrap() > 10.0, "{case:?}")
                }
                _ => assert_eq!(case.us_per_op, Some(10.0), "{case:?}"),
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
