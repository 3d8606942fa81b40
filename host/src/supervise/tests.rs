//! The supervisor on a paused clock: what is reported, what is restarted, and when.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::*;

/// Lets the other tasks run until `done` holds (the clock stays still meanwhile).
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if done() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("never: {what}");
}

fn supervisor() -> (Health, CancellationToken, Supervisor) {
    let (health, shutdown) = (Health::default(), CancellationToken::new());
    let supervisor = Supervisor::new(health.clone(), shutdown.clone());
    (health, shutdown, supervisor)
}

#[tokio::test(start_paused = true)]
async fn a_restartable_part_that_panics_is_reported_down_with_its_cause_then_started_again() {
    let (health, shutdown, mut supervisor) = supervisor();
    let (started, mut starts) = mpsc::unbounded_channel();
    let (mut runs, stop) = (0, shutdown.clone());
    supervisor.spawn_restarting("worker", move || {
        runs += 1;
        let (run, started, stop) = (runs, started.clone(), stop.clone());
        async move {
            started.send((run, Instant::now())).unwrap();
            if run == 1 {
                panic!("row 7 vanished");
            }
            stop.cancelled().await
        }
    });
    let (_, first) = starts.recv().await.unwrap();
    until("the worker is reported down", || health.down() == ["worker"]).await;
    let cause = health.cause("worker").unwrap();
    assert!(cause.contains("panicked: row 7 vanished"), "{cause}");
    let (run, second) = starts.recv().await.unwrap();
    assert_eq!(run, 2);
    assert_eq!(second - first, FIRST_BACKOFF, "restarted after the first back-off");
    assert!(health.down().is_empty(), "still reported down: {:?}", health.down());
    shutdown.cancel();
    supervisor.join().await;
}

#[tokio::test(start_paused = true)]
async fn a_part_that_is_not_restartable_stays_reported_down() {
    let (health, shutdown, mut supervisor) = supervisor();
    let (started, mut starts) = mpsc::unbounded_channel();
    supervisor.spawn_once("listener", async move {
        started.send(()).unwrap();
        panic!("the socket went away");
    });
    starts.recv().await.unwrap();
    until("the listener is reported down", || health.down() == ["listener"]).await;
    tokio::time::sleep(MAX_BACKOFF * 10).await;
    assert_eq!(health.down(), ["listener"]);
    assert!(starts.recv().await.is_none(), "started again");
    shutdown.cancel();
    supervisor.join().await;
    assert_eq!(health.down(), ["listener"], "a stop does not clear it");
}

#[tokio::test(start_paused = true)]
async fn a_part_that_returns_while_the_gateway_runs_is_reported_and_restarted() {
    let (health, shutdown, mut supervisor) = supervisor();
    let (started, mut starts) = mpsc::unbounded_channel();
    let (mut runs, stop) = (0, shutdown.clone());
    supervisor.spawn_restarting("watcher", move || {
        runs += 1;
        let (run, started, stop) = (runs, started.clone(), stop.clone());
        async move {
            started.send(run).unwrap();
            if run > 1 {
                stop.cancelled().await
            }
        }
    });
    assert_eq!(starts.recv().await, Some(1));
    until("the watcher is reported down", || !health.down().is_empty()).await;
    assert_eq!(
        health.cause("watcher").as_deref(),
        Some("ended while the gateway was not stopping")
    );
    assert_eq!(starts.recv().await, Some(2));
    assert!(health.down().is_empty());
    shutdown.cancel();
    supervisor.join().await;
}

#[tokio::test(start_paused = true)]
async fn the_back_off_doubles_up_to_its_cap_and_starts_over_after_a_stable_run() {
    let (_health, shutdown, mut supervisor) = supervisor();
    let (started, mut starts) = mpsc::unbounded_channel();
    let mut runs = 0u32;
    supervisor.spawn_restarting("flaky", move || {
        runs += 1;
        let (run, started) = (runs, started.clone());
        async move {
            started.send(Instant::now()).unwrap();
            // Run 9 lives long enough to count as stable before it fails too.
            if run == 9 {
                tokio::time::sleep(STABLE).await;
            }
            panic!("flaky run {run}");
        }
    });
    let mut at = Vec::new();
    for _ in 0..11 {
        at.push(starts.recv().await.unwrap());
    }
    let gaps: Vec<u64> = at.windows(2).map(|w| (w[1] - w[0]).as_secs()).collect();
    let stable = STABLE.as_secs();
    assert_eq!(gaps, [1, 2, 4, 8, 16, 32, 60, 60, stable + 1, 2]);
    shutdown.cancel();
    supervisor.join().await;
}

#[tokio::test(start_paused = true)]
async fn parts_that_end_at_shutdown_are_not_reported() {
    let (health, shutdown, mut supervisor) = supervisor();
    for part in ["a", "b"] {
        let shutdown = shutdown.clone();
        supervisor.spawn_restarting(part, move || {
            let shutdown = shutdown.clone();
            async move { shutdown.cancelled().await }
        });
    }
    let stop = shutdown.clone();
    supervisor.spawn_once("c", async move { stop.cancelled().await });
    tokio::task::yield_now().await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(1), supervisor.join())
        .await
        .expect("every part ended");
    assert!(health.down().is_empty(), "{:?}", health.down());
}

#[test]
fn a_thread_that_panics_is_reported_down_with_its_message() {
    let health = Health::default();
    run_thread(&health, "quiet", || {});
    assert!(health.down().is_empty());
    let thread = {
        let health = health.clone();
        std::thread::spawn(move || run_thread(&health, "loud", || panic!("lost the connection")))
    };
    thread.join().expect("the panic stays inside run_thread");
    assert_eq!(health.down(), ["loud"]);
    assert!(health.cause("loud").unwrap().contains("lost the connection"));
}
