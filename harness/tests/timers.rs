//! Virtual time, as an app author's test meets it: the app's timers fire
//! only when the test moves the clock, soonest first, each at its own due
//! time, so a timer-driven app is tested without waiting and gives the
//! same answer every run. Driven through examples/fragile's timer commands.

mod common;

use std::time::Duration;

use common::example;
use switchboard_test::{FiredTimer, TestApp};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The keys and times (in ms on the app's clock) of the timers that fired.
fn times(fired: &[FiredTimer]) -> Vec<(&str, u128)> {
    fired
        .iter()
        .map(|timer| (timer.key.as_str(), timer.at.as_millis()))
        .collect()
}

#[test]
fn timers_fire_in_due_order_each_at_its_due_time_when_the_clock_moves() {
    let mut app = TestApp::load(example("fragile"));
    let ann = app.connect("/f");
    app.push(&ann, "timer tick 40 40");
    app.assert_push(&ann, "set tick");
    app.push(&ann, "timer once 100");
    app.assert_push(&ann, "set once");

    assert_eq!(app.advance(ms(39)), []);
    app.refute_push(&ann);
    let fired = app.advance(ms(100));
    assert_eq!(
        times(&fired),
        [("tick", 40), ("tick", 80), ("once", 100), ("tick", 120)]
    );
    for key in ["tick", "tick", "once", "tick"] {
        app.assert_push(&ann, format!("fired {key}"));
    }
    assert_eq!(app.elapsed(), ms(139));
    app.push(&ann, "pending");
    app.assert_push(&ann, "pending tick:21:40");
}

#[test]
fn a_timer_set_from_on_timer_counts_from_the_moment_it_fired() {
    let mut app = TestApp::load(example("fragile"));
    let ann = app.connect("/f");
    app.advance(ms(5));
    // Due at 15 ms; each link then sets the next 25 ms after it fired, and
    // the clock jumping by a whole second changes none of that.
    app.push(&ann, "timer chain-3 10");
    app.assert_push(&ann, "set chain-3");
    let fired = app.advance(Duration::from_secs(1));
    assert_eq!(
        times(&fired),
        [("chain-3", 15), ("chain-2", 40), ("chain-1", 65)]
    );
}

#[test]
fn a_trap_in_on_timer_is_reported_and_the_repeating_timer_goes_on() {
    let mut app = TestApp::load(example("fragile"));
    let ann = app.connect("/f");
    app.push(&ann, "timer panic-tick 50 50");
    app.assert_push(&ann, "set panic-tick");
    let trap = app.expect_trap(|app| {
        app.advance(ms(50));
    });
    assert_eq!(trap.export, "on-timer");
    assert_eq!(trap.client, None, "no connection is closed for it");
    assert!(
        trap.stderr.iter().any(|line| line.contains("panic-tick")),
        "{trap}"
    );
    app.assert_push(&ann, "fired panic-tick");
    app.push(&ann, "pending");
    app.assert_push(&ann, "pending panic-tick:50:50");
    app.push(&ann, "cancel panic-tick");
    app.assert_push(&ann, "cancelled panic-tick true");
    assert_eq!(app.advance(ms(500)), []);
}

#[test]
fn timers_are_the_hosts_and_cross_a_hot_swap() {
    let mut app = TestApp::load(example("fragile"));
    let ann = app.connect("/f");
    app.push(&ann, "timer later 300");
    app.assert_push(&ann, "set later");
    app.advance(ms(100));
    app.swap_to(example("fragile"));
    assert_eq!(times(&app.advance(ms(200))), [("later", 300)]);
    app.assert_push(&ann, "fired later");
}

#[test]
fn a_suspended_apps_timers_wait_for_the_version_that_resumes_it() {
    let limits = switchboard_test::Limits {
        max_traps: 2,
        ..Default::default()
    };
    let mut app = TestApp::load_with_limits(example("fragile"), limits);
    let ann = app.connect("/f");
    app.push(&ann, "timer tick 100 100");
    app.assert_push(&ann, "set tick");
    for _ in 0..2 {
        let victim = app.connect("/f");
        app.expect_trap(|app| app.push(&victim, "panic"));
    }
    assert!(app.harness().is_suspended());
    assert_eq!(app.advance(ms(1000)), [], "a suspended app hears no timer");

    app.swap_to(example("fragile"));
    let ben = app.connect("/f");
    // Overdue by 900 ms, it fires once, then keeps its phase.
    assert_eq!(
        times(&app.advance(ms(150))),
        [("tick", 1000), ("tick", 1100)]
    );
    app.assert_push(&ben, "fired tick");
}
