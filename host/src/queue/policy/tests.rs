use super::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The anti-ban numbers of PRODUCT.md §3 (cool-down every 3, cap 10): shared with the sender tests.
pub(crate) fn cfg() -> AntiBan {
    AntiBan {
        min_gap: ms(5_000),
        max_gap: ms(9_000),
        typing: Some(Typing {
            min: ms(1_000),
            max: ms(4_000),
            per_char: ms(50),
        }),
        cooldown_every: 3,
        cooldown_min: ms(30_000),
        cooldown_max: ms(60_000),
        daily_limit: 10,
        verify_numbers: true,
        verify_cache: ms(60_000),
        sync_wait: ms(15_000),
        resend_interrupted: false,
    }
}

#[tokio::test(start_paused = true)]
async fn decisions_follow_gate_cap_and_clock() {
    let cfg = cfg();
    let now = Instant::now();
    let pacer = Pacer {
        next_start: now + ms(100),
        since_cooldown: 0,
    };
    let input = |gate, sent_today, at| Input {
        now: at,
        gate,
        sent_today,
        until_midnight: ms(7),
    };
    let table = [
        (input(Gate::Unlinked, 0, now + ms(200)), Decision::Held),
        (input(Gate::Paused, 0, now + ms(200)), Decision::Paused),
        (input(Gate::Paused, 10, now), Decision::Paused),
        (input(Gate::Open, 10, now + ms(200)), Decision::DailyCap(ms(7))),
        (input(Gate::Open, 11, now), Decision::DailyCap(ms(7))),
        (input(Gate::Open, 9, now), Decision::WaitUntil(now + ms(100))),
        (input(Gate::Open, 9, now + ms(99)), Decision::WaitUntil(now + ms(100))),
        (input(Gate::Open, 9, now + ms(100)), Decision::Send),
        (input(Gate::Open, 0, now + ms(5_000)), Decision::Send),
    ];
    for (i, (input, expected)) in table.into_iter().enumerate() {
        assert_eq!(pacer.decide(&cfg, input), expected, "row {i}");
    }
}

#[tokio::test(start_paused = true)]
async fn gaps_are_fresh_and_bounded_and_cooldown_replaces_every_nth() {
    let cfg = cfg();
    let mut rng = StdRng::seed_from_u64(7);
    let mut pacer = Pacer::new(&cfg, Instant::now(), &mut rng);
    let mut gaps = Vec::new();
    for n in 1..=30 {
        let now = Instant::now();
        let pause = pacer.after_send(&cfg, now, &mut rng);
        assert_eq!(pacer.next_start, now + pause.duration());
        match pause {
            Pause::Cooldown(d) => {
                assert_eq!(n % 3, 0, "cool-down after send {n}");
                assert!((cfg.cooldown_min..=cfg.cooldown_max).contains(&d));
            }
            Pause::Gap(d) => {
                assert_ne!(n % 3, 0, "gap after send {n}");
                assert!((cfg.min_gap..=cfg.max_gap).contains(&d));
                gaps.push(d);
            }
        }
    }
    gaps.sort();
    gaps.dedup();
    assert!(gaps.len() > 10, "gaps should vary, got {gaps:?}");
}

#[tokio::test(start_paused = true)]
async fn the_first_send_after_start_waits_a_gap() {
    let cfg = cfg();
    let now = Instant::now();
    let pacer = Pacer::new(&cfg, now, &mut StdRng::seed_from_u64(1));
    let wait = pacer.next_start - now;
    assert!((cfg.min_gap..=cfg.max_gap).contains(&wait));
}

#[test]
fn cooldown_can_be_switched_off() {
    let mut cfg = cfg();
    cfg.cooldown_every = 0;
    let mut rng = StdRng::seed_from_u64(3);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let mut pacer = Pacer::new(&cfg, Instant::now(), &mut rng);
    for _ in 0..50 {
        assert!(matches!(
            pacer.after_send(&cfg, Instant::now(), &mut rng),
            Pause::Gap(_)
        ));
    }
}

#[test]
fn typing_grows_with_length_within_bounds() {
    let t = Typing {
        min: ms(1_000),
        max: ms(4_000),
        per_char: ms(50),
    };
    let table = [
        (0, 1_000),
        (1, 1_000),
        (20, 1_000),
        (21, 1_050),
        (50, 2_500),
        (80, 4_000),
        (10_000, 4_000),
    ];
    for (chars, expected) in table {
        assert_eq!(typing_time(&t, chars), ms(expected), "{chars} chars");
    }
}

#[test]
fn random_durations_cover_the_closed_range() {
    let mut rng = StdRng::seed_from_u64(9);
    let seen: std::collections::BTreeSet<_> = (0..2_000).map(|_| between(&mut rng, ms(5), ms(9))).collect();
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        vec![ms(5), ms(6), ms(7), ms(8), ms(9)]
    );
    assert_eq!(between(&mut rng, ms(5), ms(5)), ms(5));
}
