//! A live price ticker, driven by a timer. A few made-up symbols take a
//! seeded random walk: every second a repeating timer, held by the host,
//! moves each price one step and publishes it to the symbol's topic
//! (`price:SYMBOL`), whose history the config keeps (examples/demo.toml).
//! A page that opens is sent the recent points first and then the live
//! ones, none missed and none twice: it reads the history and subscribes in
//! one event, and no tick can fall in between.
//!
//! The app keeps nothing in its own memory. Where the walk stands (its tick
//! and each price) is in the app's key-value store, written every tick, so
//! after a trap, a hot swap or a host restart the walk goes on from the last
//! price instead of starting over. Each step's randomness is drawn from the
//! seed and the tick's number, so the walk is the same in every run and the
//! same tick always takes the same step. (Should the store fail, the
//! topics' history still says where the walk stood.) The timer runs while
//! anyone watches: the first page to open starts it, and the first tick
//! that finds nobody watching stops it.
//!
//! The wire protocol (JSON text messages; the app speaks, the page only
//! listens). A client connects to the route, no query needed, and is sent
//!
//! - `{"type":"history","symbols":[S...],"every_ms":1000,"points":{S:[{"tick":TICK,"t":T,"price":P}...]}}`:
//!   the symbols, how often they tick, and each one's recent points, oldest
//!   first (`T` is the tick's time in milliseconds since the Unix epoch);
//! - then, each tick, one `{"type":"price","symbol":S,"tick":TICK,"t":T,"price":P}`
//!   per symbol, in the order of `symbols`; the symbols of one tick share
//!   its `tick` and `t`.
//!
//! Anything the client sends gets `{"type":"error","text":...}`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use switchboard_guest::{
    Accept, App, ConnectionId, Message, Reject, Request, Subscribe, history, kv, log, members,
    publish, send, subscribe, timers,
};

/// The symbols and the price each starts from, in the order pages list them.
const SYMBOLS: &[(&str, f64)] = &[("ACME", 100.0), ("GLOBEX", 250.0), ("INITECH", 40.0)];

/// How often the prices move.
const EVERY: Duration = Duration::from_secs(1);

/// The repeating timer's key.
const TICK: &str = "tick";

/// Where the walk's state is kept in the app's key-value store.
const WALK: &str = "walk";

/// The walk's seed: the same walk in every run.
const SEED: u64 = 13;

/// The spread of one step, as a fraction of the price (a log-normal step).
const VOLATILITY: f64 = 0.004;

/// The most recent points a page is sent when it opens (fewer when the
/// history keeps fewer).
const RECENT: u32 = 300;

#[derive(Default)]
struct Ticker;

/// Where the walk stands: the last tick taken and each symbol's price then.
#[derive(Serialize, Deserialize, Default)]
struct Walk {
    tick: u64,
    prices: BTreeMap<String, f64>,
}

impl Walk {
    /// A symbol's price now; its starting price before its first step.
    fn price(&self, symbol: &str, start: f64) -> f64 {
        self.prices
            .get(symbol)
            .copied()
            .filter(|price| price.is_finite() && *price > 0.0)
            .unwrap_or(start)
    }

    /// One tick: every price takes a step. The step depends only on the
    /// seed and the tick's number, never on how the app got here.
    fn step(&mut self) {
        self.tick += 1;
        let mut rng =
            fastrand::Rng::with_seed(SEED ^ self.tick.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        for &(symbol, start) in SYMBOLS {
            let moved = self.price(symbol, start) * (VOLATILITY * normal(&mut rng)).exp();
            self.prices
                .insert(symbol.to_string(), cents(moved).max(0.01));
        }
    }
}

/// A standard normal number, from two uniform ones (Box-Muller).
fn normal(rng: &mut fastrand::Rng) -> f64 {
    // In (0, 1], so that its logarithm is finite.
    let u1 = 1.0 - rng.f64();
    let u2 = rng.f64();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn cents(price: f64) -> f64 {
    (price * 100.0).round() / 100.0
}

fn topic(symbol: &str) -> String {
    format!("price:{symbol}")
}

/// One published point, as the topics' history holds it.
#[derive(Deserialize)]
struct Point {
    symbol: String,
    tick: u64,
    t: u64,
    price: f64,
}

fn point_of(message: &Message) -> Option<Point> {
    serde_json::from_str(message.as_text()?).ok()
}

/// Milliseconds since the Unix epoch: when the current event began.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Where the walk stands: as the store has it, or else as the topics'
/// latest points say, or else at the start.
fn where_the_walk_stands() -> Walk {
    match kv::get(WALK) {
        Ok(Some(bytes)) => match serde_json::from_slice(&bytes) {
            Ok(walk) => return walk,
            Err(error) => log::warn(&format!(
                "the stored walk is unreadable ({error}); going on from the history"
            )),
        },
        Ok(None) => {}
        Err(error) => log::warn(&format!(
            "reading the walk: {error}; going on from the history"
        )),
    }
    let mut walk = Walk::default();
    for &(symbol, _) in SYMBOLS {
        let last = history(&topic(symbol), 1)
            .ok()
            .and_then(|page| page.publications.last().and_then(|p| point_of(&p.message)));
        if let Some(point) = last {
            walk.tick = walk.tick.max(point.tick);
            walk.prices.insert(point.symbol, point.price);
        }
    }
    walk
}

fn anyone_watching() -> bool {
    SYMBOLS
        .iter()
        .any(|&(symbol, _)| !members(&topic(symbol)).is_empty())
}

/// Start the tick unless it is running.
fn keep_ticking() {
    if timers::pending().iter().any(|timer| timer.key == TICK) {
        return;
    }
    if let Err(error) = timers::every(TICK, EVERY) {
        log::warn(&format!("the ticker cannot start its timer: {error}"));
    }
}

impl Ticker {
    fn tick(&mut self) {
        if !anyone_watching() {
            timers::cancel(TICK);
            return;
        }
        let mut walk = where_the_walk_stands();
        walk.step();
        match serde_json::to_vec(&walk) {
            Ok(bytes) => {
                if let Err(error) = kv::set(WALK, bytes) {
                    log::warn(&format!("storing the walk: {error}"));
                }
            }
            Err(error) => log::warn(&format!("encoding the walk: {error}")),
        }
        let t = now_ms();
        for &(symbol, start) in SYMBOLS {
            let price = walk.price(symbol, start);
            publish(
                &topic(symbol),
                json!({"type": "price", "symbol": symbol, "tick": walk.tick, "t": t, "price": price})
                    .to_string(),
            );
        }
    }
}

impl App for Ticker {
    fn on_open(&mut self, connection: ConnectionId, _request: &Request) -> Result<Accept, Reject> {
        let mut points = Map::new();
        for &(symbol, _) in SYMBOLS {
            // The history, then the subscription, in this one event: the
            // page's first live point is the one after its last recent one.
            let recent: Vec<Value> = history(&topic(symbol), RECENT)
                .map(|page| page.publications)
                .unwrap_or_default()
                .iter()
                .filter_map(|publication| point_of(&publication.message))
                .map(|point| json!({"tick": point.tick, "t": point.t, "price": point.price}))
                .collect();
            points.insert(symbol.to_string(), Value::Array(recent));
            if subscribe(connection, &topic(symbol), Subscribe::new()).is_err() {
                return Err(Reject::new(503, "the ticker is unavailable"));
            }
        }
        let symbols: Vec<&str> = SYMBOLS.iter().map(|&(symbol, _)| symbol).collect();
        let every_ms = u64::try_from(EVERY.as_millis()).unwrap_or(u64::MAX);
        send(
            connection,
            json!({"type": "history", "symbols": symbols, "every_ms": every_ms, "points": points})
                .to_string(),
        );
        keep_ticking();
        Ok(Accept::new())
    }

    fn on_message(&mut self, connection: ConnectionId, _message: Message) {
        send(
            connection,
            json!({"type": "error", "text": "the ticker only speaks: there is nothing to ask it"})
                .to_string(),
        );
    }

    fn on_timer(&mut self, key: &str) {
        if key == TICK {
            self.tick();
        }
    }
}

switchboard_guest::export!(Ticker);
