//! The ticker example (examples/ticker/rust) in a real host: a timer held
//! by the host moves its prices, the topics' history gives a newcomer the
//! recent past, and the app's key-value store remembers where the walk
//! stands. Its memory holds nothing, so neither a new version nor a
//! restart of the host sends the walk back to its start.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{Client, Host, connect, example, scratch_dir, stamp, version_of};
use serde_json::Value;

const SYMBOLS: [&str; 3] = ["ACME", "GLOBEX", "INITECH"];

/// A config serving the ticker as examples/demo.toml does, its data
/// (versions and key-value store) in `dir`.
fn ticker_config(dir: &Path) -> PathBuf {
    let config = dir.join("switchboard.toml");
    let ticker = example("ticker");
    std::fs::write(
        &config,
        format!(
            "[deploy]\ndata_dir = \"data\"\n\n\
             [[apps]]\nname = \"ticker\"\nroute = \"/ticker\"\nmodule = {ticker:?}\n\n\
             [[apps.history]]\nprefix = \"price:\"\nsize = 300\nttl_seconds = 600\n"
        ),
    )
    .expect("write the config");
    config
}

/// A page's view of the ticker: connected, and told the recent past.
async fn watch(host: &Host) -> (Client, Value) {
    let mut client = connect(&host.url("/ticker")).await;
    let history = client.recv_json().await;
    assert_eq!(history["type"], "history", "{history}");
    (client, history)
}

/// The next tick: one price per symbol, in order, all of the same tick.
/// Returns the tick's number and the prices.
async fn next_tick(client: &mut Client) -> (u64, Vec<f64>) {
    let mut tick = None;
    let mut prices = Vec::new();
    for symbol in SYMBOLS {
        let price = client.recv_json().await;
        assert_eq!(price["type"], "price", "{price}");
        assert_eq!(price["symbol"], symbol, "{price}");
        let number = price["tick"].as_u64().expect("a tick number");
        assert_eq!(*tick.get_or_insert(number), number, "{price}");
        prices.push(price["price"].as_f64().expect("a price"));
    }
    (tick.expect("three symbols"), prices)
}

#[tokio::test]
async fn a_newcomer_is_shown_the_recent_past_then_every_tick_with_the_others() {
    let dir = scratch_dir("ticker");
    let host = Host::serve_config_with_admin(&ticker_config(&dir), &[]);
    let (mut ann, history) = watch(&host).await;
    assert_eq!(history["symbols"], serde_json::json!(SYMBOLS));
    assert_eq!(history["every_ms"], 1000);
    // Ann hears the ticks one after another, the first one first.
    let mut heard = BTreeMap::new();
    for expected in 1..=2 {
        let (tick, prices) = next_tick(&mut ann).await;
        assert_eq!(tick, expected);
        heard.insert(tick, prices);
    }

    // Bob comes later: he is shown every tick so far, oldest first, as
    // Ann heard them...
    let (mut bob, history) = watch(&host).await;
    let mut shown = 0;
    for (index, symbol) in SYMBOLS.iter().enumerate() {
        let points = history["points"][symbol].as_array().expect("points");
        let ticks: Vec<u64> = points.iter().filter_map(|p| p["tick"].as_u64()).collect();
        shown = *ticks.last().expect("the ticks before bob came");
        assert_eq!(ticks, (1..=shown).collect::<Vec<_>>(), "{symbol}");
        while heard.len() < shown as usize {
            let (tick, prices) = next_tick(&mut ann).await;
            heard.insert(tick, prices);
        }
        for point in points {
            let tick = point["tick"].as_u64().expect("a tick");
            assert_eq!(
                point["price"].as_f64(),
                Some(heard[&tick][index]),
                "{symbol} {tick}"
            );
        }
    }
    // ...then the next tick live, the same one Ann hears.
    let (bobs, bob_prices) = next_tick(&mut bob).await;
    assert_eq!(bobs, shown + 1);
    while !heard.contains_key(&bobs) {
        let (tick, prices) = next_tick(&mut ann).await;
        heard.insert(tick, prices);
    }
    assert_eq!(heard[&bobs], bob_prices);
}

#[tokio::test]
async fn a_new_version_takes_over_mid_walk_without_a_tick_missed_or_doubled() {
    let dir = scratch_dir("ticker-swap");
    let host = Host::serve_config_with_admin(&ticker_config(&dir), &[]);
    let (mut ann, _) = watch(&host).await;
    let (before, _) = next_tick(&mut ann).await;

    let next = stamp(&std::fs::read(example("ticker")).expect("ticker.wasm"), 1);
    let (status, answer) = host
        .admin_request("PUT", "/apps/ticker", Some(next.clone()))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["active_version"], version_of(&next).as_str());

    // The new version fires the same timer and walks on from the store.
    for expected in before + 1..=before + 3 {
        let (tick, _) = next_tick(&mut ann).await;
        assert_eq!(tick, expected);
    }
}

#[tokio::test]
async fn after_a_restart_the_walk_goes_on_from_the_last_price() {
    let dir = scratch_dir("ticker-restart");
    let config = ticker_config(&dir);
    let (last, prices) = {
        let mut host = Host::serve_config_with_admin(&config, &[]);
        let (mut ann, _) = watch(&host).await;
        next_tick(&mut ann).await;
        let seen = next_tick(&mut ann).await;
        // Ann leaves, so the walk stops at its next tick (a host shutting
        // down would keep it going while it waits for her goodbye).
        drop(ann);
        host.terminate();
        assert_eq!(host.wait().code(), Some(0), "{}", host.log());
        seen
    };

    // The history went with the host; the walk's state did not. (A tick
    // may have come between the last one read and Ann's leaving.)
    let host = Host::serve_config_with_admin(&config, &[]);
    let (mut ann, _) = watch(&host).await;
    let (tick, after) = next_tick(&mut ann).await;
    assert!(
        (last + 1..=last + 2).contains(&tick),
        "tick {tick} after {last}; {}",
        host.log()
    );
    // A step or two from where it stood (each a few tenths of a percent),
    // not a walk that started again from its first price.
    for ((symbol, before), after) in SYMBOLS.iter().zip(&prices).zip(&after) {
        let step = (after / before).ln().abs();
        assert!(step < 0.05, "{symbol}: {before} then {after}");
    }
}
