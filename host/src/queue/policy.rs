//! Pacing as a pure function of (state, config, now): when the next send may start, how long
//! to type, and which pause follows a send. Randomness comes in as an argument.

use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use crate::config::{AntiBan, Typing};
use crate::whatsapp::Gate;

/// What the sender should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Start the next message (verify, type, send).
    Send,
    /// The gap or cool-down runs until then.
    WaitUntil(Instant),
    /// Linked but not connected: wait for the session.
    Paused,
    /// Nothing linked: hold the queue.
    Held,
    /// The daily cap is reached: wait this long (until the next UTC midnight).
    DailyCap(Duration),
}

/// The pause after a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pause {
    Gap(Duration),
    Cooldown(Duration),
}

impl Pause {
    pub fn duration(self) -> Duration {
        match self {
            Self::Gap(d) | Self::Cooldown(d) => d,
        }
    }
}

/// The facts a decision depends on besides the pacer's own state.
#[derive(Debug, Clone, Copy)]
pub struct Input {
    pub now: Instant,
    pub gate: Gate,
    pub sent_today: u32,
    pub until_midnight: Duration,
}

/// The sender's pacing state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pacer {
    /// No send starts (typing included) before this instant.
    pub next_start: Instant,
    /// Sends since the last cool-down.
    pub since_cooldown: u32,
}

impl Pacer {
    /// After a (re)start the first send also waits a gap: a crash loop never bursts.
    pub fn new(cfg: &AntiBan, now: Instant, rng: &mut impl Rng) -> Self {
        Self {
            next_start: now + between(rng, cfg.min_gap, cfg.max_gap),
            since_cooldown: 0,
        }
    }

    pub fn decide(&self, cfg: &AntiBan, input: Input) -> Decision {
        match input.gate {
            Gate::Unlinked => Decision::Held,
            Gate::Paused => Decision::Paused,
            Gate::Open if input.sent_today >= cfg.daily_limit => Decision::DailyCap(input.until_midnight),
            Gate::Open if input.now < self.next_start => Decision::WaitUntil(self.next_start),
            Gate::Open => Decision::Send,
        }
    }

    /// Records a send that ended at `now` and picks the pause before the next one: a fresh
    /// random gap, or a cool-down after every `cooldown_every` sends.
    pub fn after_send(&mut self, cfg: &AntiBan, now: Instant, rng: &mut impl Rng) -> Pause {
        self.since_cooldown += 1;
        let pause = if cfg.cooldown_every > 0 && self.since_cooldown >= cfg.cooldown_every {
            self.since_cooldown = 0;
            Pause::Cooldown(between(rng, cfg.cooldown_min, cfg.cooldown_max))
        } else {
            Pause::Gap(between(rng, cfg.min_gap, cfg.max_gap))
        };
        self.next_start = now + pause.duration();
        pause
    }
}

/// How long "typing…" shows before a text of `chars` characters.
pub fn typing_time(typing: &Typing, chars: usize) -> Duration {
    let per_char = typing.per_char.saturating_mul(u32::try_from(chars).unwrap_or(u32::MAX));
    per_char.clamp(typing.min, typing.max)
}

/// A uniformly random duration in `[min, max]` (millisecond resolution).
pub fn between(rng: &mut impl Rng, min: Duration, max: Duration) -> Duration {
    if max <= min {
        return min;
    }
    let span = (max - min).as_millis() as u64;
    min + Duration::from_millis(rng.random_range(0..=span))
}

#[cfg(test)]
pub(crate) mod tests;
