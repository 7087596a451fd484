//! The timers part of the state suite: how late the host's timers fire at
//! 1 000 firings a second, against a plain tokio interval at the same rate
//! in the bench's own process (the floor: what this machine's timers and
//! scheduler give anything).
//!
//! Through the host: one connection asks the bench's guest
//! (examples/bench-state) to set its timers one message at a time, each
//! repeating, their first firings spread evenly over one interval; each
//! firing makes the guest send `fired I` to that connection, and the bench
//! stamps its arrival. A timer set in a round trip from `before` to
//! `after` was set at about the midpoint, so firing k of a timer set with
//! delay D is due at midpoint + D + k × interval, and its lateness is
//! arrival − due. That includes the way to the bench (the host's outbox,
//! loopback TCP, the bench's read): about half a round trip, which the
//! report gives beside it (half the median of the sets' round trips).
//!
//! The floor: the same schedule as `tokio::time::interval`s in the bench
//! (one task per timer, missed ticks skipped, as the host's repeating
//! timers do), each tick stamped the moment it runs, on a thread pinned to
//! the server's core (idle meanwhile), so that the same core, shared with
//! the same other load, wakes both. And the floor again with that thread
//! scheduled as the host schedules an app's thread (`SCHED_BATCH`, no
//! wake-up preemption): on a core other work keeps busy, a timer's wake-up
//! then waits for the scheduler to look, and the difference is what that
//! choice of the host's costs a timer, apart from the rest of its path.
//!
//! Both sides of a case run once per round, the order reversed every other
//! round, and the lateness of every firing due in the measured window
//! counts. An arrival is the firing due last before it (give or take the
//! set time's uncertainty, `SLACK` plus half the set's round trip): timers
//! are never early, and a repeating timer that falls behind fires once, so
//! a firing later than a whole interval shows as one missed. A firing due
//! in the window and never received (the host skipped it), or received
//! twice, fails the run.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures::SinkExt as _;
use serde::Serialize;
use tokio::time::Instant;
use yawc::Frame;

use crate::connection::{self, Socket};
use crate::cpu::CoreSet;
use crate::standard::median;
use crate::topics::{next_text, ratio};

/// A case: this many repeating timers, every `every_ms`.
#[derive(Debug)]
pub struct TimerCase {
    pub id: &'static str,
    pub title: &'static str,
    pub timers: u64,
    pub every_ms: u64,
}

/// Both at the 1 000 firings a second: many slow timers, and
/// fewer fast ones.
pub const CASES: [TimerCase; 2] = [
    TimerCase {
        id: "1000-every-1s",
        title: "1 000 timers every 1 s",
        timers: 1000,
        every_ms: 1000,
    },
    TimerCase {
        id: "100-every-100ms",
        title: "100 timers every 100 ms",
        timers: 100,
        every_ms: 100,
    },
];

/// Time before the first firing: room to set every timer (a round trip
/// each, well under `SET_ALLOWANCE`) before the first is due.
const LEAD: Duration = Duration::from_millis(200);
const SET_ALLOWANCE: Duration = Duration::from_millis(1);
/// The host raises shorter delays to its minimum interval (10 ms).
const MIN_DELAY_MS: u64 = 10;
/// After the window, how long firings due in it may still take to arrive.
/// A firing the host ran before the cancel arrives before the cancel's
/// answer anyway (one connection, in order): this only bounds the wait.
const GRACE: Duration = Duration::from_millis(500);
/// One answer taking longer than this is a server that stopped answering.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// How early an arrival may seem and still be the firing due after it:
/// the host's timers are never early, but a set time is known only to
/// within half its round trip (added to this per timer).
const SLACK: Duration = Duration::from_millis(2);

/// Which timers a run measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimerSide {
    /// The host's timers, through the guest and a WebSocket.
    Host,
    /// tokio intervals in the bench process, on the server's core.
    Floor,
    /// The same at the app thread's policy (`SCHED_BATCH`).
    FloorBatch,
}

/// Lateness of the firings of one run, µs (negative: before it was due,
/// which for the host means the midpoint overestimated the set time).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Lateness {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

#[derive(Debug, Serialize)]
pub struct TimerRun {
    pub case: &'static str,
    pub side: TimerSide,
    pub round: usize,
    /// Firings due in the measured window and received once.
    pub firings: u64,
    pub firings_per_s: f64,
    /// Due in the window and never received.
    pub missed: u64,
    /// Received more than once.
    pub duplicated: u64,
    /// Received before they were due (see `Lateness`).
    pub early: u64,
    pub lateness_us: Option<Lateness>,
    /// Host only: half the median round trip of the sets, µs: about what
    /// the way from the host to the bench adds to each lateness.
    pub delivery_us: Option<f64>,
    pub error: Option<String>,
}

/// Host against floor for one case: medians over rounds.
#[derive(Debug, Serialize)]
pub struct TimerComparison {
    pub case: &'static str,
    pub title: &'static str,
    pub host_p50_us: Option<f64>,
    pub host_p99_us: Option<f64>,
    pub host_max_us: Option<f64>,
    pub floor_p50_us: Option<f64>,
    pub floor_p99_us: Option<f64>,
    pub floor_max_us: Option<f64>,
    pub host_firings_per_s: Option<f64>,
    pub delivery_us: Option<f64>,
    /// The floor at the app thread's policy.
    pub floor_batch_p50_us: Option<f64>,
    pub floor_batch_p99_us: Option<f64>,
    pub floor_batch_max_us: Option<f64>,
    /// Host over floor, of the medians, and within each round.
    pub p50_ratio: Option<f64>,
    pub p99_ratio: Option<f64>,
    pub p50_per_round: Vec<f64>,
    pub p99_per_round: Vec<f64>,
    /// Host over the floor at the app thread's policy: what the host's
    /// path adds besides its scheduling.
    pub p50_over_batch_floor: Option<f64>,
    pub p99_over_batch_floor: Option<f64>,
}

/// One timer of a run: when its first firing is due, and how early an
/// arrival may seem to be (see `SLACK`).
#[derive(Debug, Clone, Copy)]
struct Planned {
    first_due: Instant,
    slack: Duration,
}

/// What a run saw: every firing (timer, arrival), and the window.
struct Observed {
    planned: Vec<Planned>,
    arrivals: Vec<(usize, Instant)>,
    window_start: Instant,
    window_end: Instant,
    delivery_us: Option<f64>,
}

impl TimerCase {
    fn every(&self) -> Duration {
        Duration::from_millis(self.every_ms)
    }

    /// Where timer `index`'s first firing should fall: spread evenly over
    /// one interval after the lead.
    fn first_due(&self, start: Instant, index: u64) -> Instant {
        start
            + LEAD
            + SET_ALLOWANCE * self.timers as u32
            + self.every() * index as u32 / self.timers as u32
    }

    /// The measured window: from the first firing's due time, `duration`.
    fn window(&self, start: Instant, duration: Duration) -> (Instant, Instant) {
        let first = self.first_due(start, 0);
        (first, first + duration)
    }
}

/// One run of one side, as its report. The floor runs on `core`, the
/// server's (none: unpinned).
pub async fn run_side(
    url: &url::Url,
    case: &TimerCase,
    side: TimerSide,
    round: usize,
    duration: Duration,
    core: Option<CoreSet>,
) -> TimerRun {
    let observed = match side {
        TimerSide::Host => through_host(url, case, duration).await,
        TimerSide::Floor => floor_on(core, false, case, duration),
        TimerSide::FloorBatch => floor_on(core, true, case, duration),
    };
    match observed {
        Ok(observed) => judge(case, side, round, duration, &observed),
        Err(error) => TimerRun {
            case: case.id,
            side,
            round,
            firings: 0,
            firings_per_s: 0.0,
            missed: 0,
            duplicated: 0,
            early: 0,
            lateness_us: None,
            delivery_us: None,
            error: Some(format!("{error:#}")),
        },
    }
}

/// A guest's message: a firing, or the answer to a command.
enum Heard {
    Fired(usize),
    Answer(String),
}

fn hear(text: &[u8], timers: u64) -> anyhow::Result<Heard> {
    let text = std::str::from_utf8(text).context("the guest sent something not UTF-8")?;
    if let Some(index) = text.strip_prefix("fired ") {
        return match index.parse::<usize>() {
            Ok(index) if (index as u64) < timers => Ok(Heard::Fired(index)),
            _ => bail!("the guest sent {text:?}: no such timer"),
        };
    }
    Ok(Heard::Answer(text.to_string()))
}

/// Wait for the answer to a command, noting the firings met on the way.
async fn answer(
    socket: &mut Socket,
    timers: u64,
    arrivals: &mut Vec<(usize, Instant)>,
) -> anyhow::Result<String> {
    loop {
        let text = tokio::time::timeout(ANSWER_TIMEOUT, next_text(socket))
            .await
            .map_err(|_| anyhow::anyhow!("no answer within {}s", ANSWER_TIMEOUT.as_secs()))??;
        let at = Instant::now();
        match hear(&text, timers)? {
            Heard::Fired(index) => arrivals.push((index, at)),
            Heard::Answer(answer) => return Ok(answer),
        }
    }
}

async fn through_host(
    url: &url::Url,
    case: &TimerCase,
    duration: Duration,
) -> anyhow::Result<Observed> {
    let mut socket = connection::open(url, 1024).await?;
    let start = Instant::now();
    let every = case.every_ms;
    let mut planned = Vec::with_capacity(case.timers as usize);
    let mut arrivals = Vec::new();
    let mut round_trips = Vec::with_capacity(case.timers as usize);
    for index in 0..case.timers {
        let before = Instant::now();
        let wanted = case
            .first_due(start, index)
            .saturating_duration_since(before);
        let delay_ms = (wanted.as_micros().div_ceil(1000) as u64).max(MIN_DELAY_MS);
        socket
            .send(Frame::text(format!("timer-set {index} {delay_ms} {every}")))
            .await
            .context("setting a timer")?;
        let answer = answer(&mut socket, case.timers, &mut arrivals).await?;
        let after = Instant::now();
        if answer != format!("set {index}") {
            bail!("the guest answered timer-set {index} with {answer:?}");
        }
        round_trips.push((after - before).as_secs_f64() * 1e6);
        planned.push(Planned {
            first_due: before + (after - before) / 2 + Duration::from_millis(delay_ms),
            slack: SLACK + (after - before) / 2,
        });
    }
    let (window_start, window_end) = case.window(start, duration);
    let deadline = window_end + GRACE;
    loop {
        match tokio::time::timeout_at(deadline, next_text(&mut socket)).await {
            Err(_) => break,
            Ok(text) => {
                let text = text?;
                let at = Instant::now();
                match hear(&text, case.timers)? {
                    Heard::Fired(index) => arrivals.push((index, at)),
                    Heard::Answer(answer) => bail!("the guest sent {answer:?} unasked"),
                }
            }
        }
    }
    socket
        .send(Frame::text(format!("timer-cancel {}", case.timers)))
        .await
        .context("cancelling the timers")?;
    let answer = answer(&mut socket, case.timers, &mut arrivals).await?;
    if answer != format!("cancelled {}", case.timers) {
        bail!(
            "the guest answered timer-cancel with {answer:?}: every one of the {} timers should still have been pending",
            case.timers
        );
    }
    connection::close(&mut socket).await;
    Ok(Observed {
        planned,
        arrivals,
        window_start,
        window_end,
        delivery_us: median(round_trips).map(|rtt| rtt / 2.0),
    })
}

/// The floor on a thread of its own, pinned to `core`, at the app
/// thread's policy if `batch`. The bench's own thread waits meanwhile.
fn floor_on(
    core: Option<CoreSet>,
    batch: bool,
    case: &TimerCase,
    duration: Duration,
) -> anyhow::Result<Observed> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                if let Some(core) = core {
                    core.pin_current_thread()?;
                }
                if batch {
                    switchboard::scheduling::batch_app_thread();
                }
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("cannot start the floor's runtime")?;
                Ok(runtime.block_on(floor(case, duration)))
            })
            .join()
            .map_err(|_| anyhow::anyhow!("the floor's thread panicked"))?
    })
}

/// The same schedule as tokio intervals in this process.
async fn floor(case: &TimerCase, duration: Duration) -> Observed {
    let start = Instant::now();
    let (window_start, window_end) = case.window(start, duration);
    let planned: Vec<Planned> = (0..case.timers)
        .map(|index| Planned {
            first_due: case.first_due(start, index),
            slack: SLACK,
        })
        .collect();
    let arrivals = Rc::new(RefCell::new(Vec::new()));
    let local = tokio::task::LocalSet::new();
    for (index, timer) in planned.iter().enumerate() {
        let arrivals = arrivals.clone();
        let every = case.every();
        let first_due = timer.first_due;
        local.spawn_local(async move {
            let mut interval = tokio::time::interval_at(first_due, every);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                let due = interval.tick().await;
                let at = Instant::now();
                if due > window_end + GRACE {
                    break;
                }
                arrivals.borrow_mut().push((index, at));
            }
        });
    }
    local.await;
    let arrivals = arrivals.take();
    Observed {
        planned,
        arrivals,
        window_start,
        window_end,
        delivery_us: None,
    }
}

/// Match every arrival to the firing it was (the last due before it, give
/// or take the timer's slack), and judge the run.
fn judge(
    case: &TimerCase,
    side: TimerSide,
    round: usize,
    duration: Duration,
    observed: &Observed,
) -> TimerRun {
    let every_ns = case.every().as_nanos() as f64;
    let mut seen = HashSet::new();
    let mut late_ns: Vec<i64> = Vec::new();
    let mut duplicated = 0;
    for &(index, at) in &observed.arrivals {
        let Some(timer) = observed.planned.get(index) else {
            continue;
        };
        let since_first = signed_ns(at, timer.first_due) + timer.slack.as_nanos() as i64;
        let k = (since_first as f64 / every_ns).floor().max(0.0) as u64;
        let due = timer.first_due + case.every() * k as u32;
        if due > observed.window_end {
            continue;
        }
        if !seen.insert((index, k)) {
            duplicated += 1;
            continue;
        }
        late_ns.push(signed_ns(at, due));
    }
    // Every firing due in the window: k = 0 up to the last before its end.
    let expected: u64 = observed
        .planned
        .iter()
        .filter(|timer| timer.first_due <= observed.window_end)
        .map(|timer| {
            let span = observed
                .window_end
                .saturating_duration_since(timer.first_due);
            (span.as_nanos() as f64 / every_ns).floor() as u64 + 1
        })
        .sum();
    let firings = late_ns.len() as u64;
    let early = late_ns.iter().filter(|&&ns| ns < 0).count() as u64;
    late_ns.sort_unstable();
    let us = |ns: i64| ns as f64 / 1000.0;
    let at = |q: f64| {
        let rank = ((late_ns.len() as f64 * q).ceil() as usize).clamp(1, late_ns.len());
        us(late_ns[rank - 1])
    };
    let lateness_us = (!late_ns.is_empty()).then(|| Lateness {
        p50: at(0.5),
        p99: at(0.99),
        max: us(late_ns[late_ns.len() - 1]),
        mean: late_ns.iter().map(|&ns| us(ns)).sum::<f64>() / late_ns.len() as f64,
    });
    let window = observed
        .window_end
        .saturating_duration_since(observed.window_start)
        .max(duration)
        .as_secs_f64();
    TimerRun {
        case: case.id,
        side,
        round,
        firings,
        firings_per_s: firings as f64 / window,
        missed: expected.saturating_sub(firings),
        duplicated,
        early,
        lateness_us,
        delivery_us: observed.delivery_us,
        error: None,
    }
}

/// `a − b` in nanoseconds, negative when `a` is earlier.
fn signed_ns(a: Instant, b: Instant) -> i64 {
    if a >= b {
        (a - b).as_nanos() as i64
    } else {
        -((b - a).as_nanos() as i64)
    }
}

/// Host against floor, per case.
pub fn compare(case: &TimerCase, runs: &[TimerRun]) -> TimerComparison {
    let of = |side: TimerSide| {
        runs.iter()
            .filter(move |run| run.case == case.id && run.side == side)
    };
    let figure = |side, f: fn(&Lateness) -> f64| {
        median(of(side).filter_map(|run| run.lateness_us.as_ref().map(f)))
    };
    let per_round = |f: fn(&Lateness) -> f64| -> Vec<f64> {
        of(TimerSide::Host)
            .filter_map(|host| {
                let floor = of(TimerSide::Floor).find(|run| run.round == host.round)?;
                ratio(
                    host.lateness_us.as_ref().map(f),
                    floor.lateness_us.as_ref().map(f),
                )
            })
            .collect()
    };
    let host_p50_us = figure(TimerSide::Host, |l| l.p50);
    let host_p99_us = figure(TimerSide::Host, |l| l.p99);
    let floor_p50_us = figure(TimerSide::Floor, |l| l.p50);
    let floor_p99_us = figure(TimerSide::Floor, |l| l.p99);
    let floor_batch_p50_us = figure(TimerSide::FloorBatch, |l| l.p50);
    let floor_batch_p99_us = figure(TimerSide::FloorBatch, |l| l.p99);
    TimerComparison {
        case: case.id,
        title: case.title,
        host_p50_us,
        host_p99_us,
        host_max_us: figure(TimerSide::Host, |l| l.max),
        floor_p50_us,
        floor_p99_us,
        floor_max_us: figure(TimerSide::Floor, |l| l.max),
        host_firings_per_s: median(of(TimerSide::Host).map(|run| run.firings_per_s)),
        delivery_us: median(of(TimerSide::Host).filter_map(|run| run.delivery_us)),
        floor_batch_p50_us,
        floor_batch_p99_us,
        floor_batch_max_us: figure(TimerSide::FloorBatch, |l| l.max),
        p50_ratio: ratio(host_p50_us, floor_p50_us),
        p99_ratio: ratio(host_p99_us, floor_p99_us),
        p50_per_round: per_round(|l| l.p50),
        p99_per_round: per_round(|l| l.p99),
        p50_over_batch_floor: ratio(host_p50_us, floor_batch_p50_us),
        p99_over_batch_floor: ratio(host_p99_us, floor_batch_p99_us),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_firings_are_spread_over_one_interval() {
        let start = Instant::now();
        let case = &CASES[0];
        let first = case.first_due(start, 0);
        assert_eq!(first - start, LEAD + SET_ALLOWANCE * 1000);
        assert_eq!(case.first_due(start, 1) - first, Duration::from_millis(1));
        assert_eq!(
            case.first_due(start, 999) - first,
            Duration::from_millis(999)
        );
        assert_eq!(
            CASES[1].first_due(start, 1) - CASES[1].first_due(start, 0),
            Duration::from_millis(1)
        );
    }

    #[test]
    fn each_arrival_is_the_firing_due_last_before_it() {
        let case = &CASES[1];
        let start = Instant::now();
        let planned = vec![Planned {
            first_due: start,
            slack: SLACK,
        }];
        let every = case.every();
        let ms = Duration::from_millis;
        let observed = Observed {
            planned,
            // Firing 0 2 ms late, 1 missing, 2 1 ms late and twice, 3 one
            // ms early (within the slack), and one after the window.
            arrivals: vec![
                (0, start + ms(2)),
                (0, start + every * 2 + ms(1)),
                (0, start + every * 2 + ms(3)),
                (0, start + every * 3 - ms(1)),
                (0, start + every * 9),
            ],
            window_start: start,
            window_end: start + every * 3 + ms(10),
            delivery_us: None,
        };
        let run = judge(case, TimerSide::Floor, 1, every * 3, &observed);
        assert_eq!(
            (run.firings, run.missed, run.duplicated, run.early),
            (3, 1, 1, 1)
        );
        let lateness = run.lateness_us.unwrap();
        assert_eq!((lateness.p50, lateness.max), (1000.0, 2000.0));

        // 60 ms late is still that firing, not the next one's early
        // arrival.
        let late = Observed {
            planned: observed.planned.clone(),
            arrivals: vec![(0, start + ms(60)), (0, start + every + ms(1))],
            window_start: start,
            window_end: start + every + ms(10),
            delivery_us: None,
        };
        let run = judge(case, TimerSide::Host, 1, every, &late);
        assert_eq!((run.firings, run.missed, run.duplicated), (2, 0, 0));
        assert_eq!(run.lateness_us.unwrap().max, 60_000.0);
    }
}
