//! Fault injection: hooks that make a write job fail, or a named part (a task started by the
//! supervisor, the writer thread, the checkpointer's rounds) panic, on purpose, so tests can prove each failure is survived and reported. The methods
//! that arm them exist only with the `fault-injection` feature, which only test builds have;
//! without it every check is a constant `false`. Each gateway has its own (reached through its
//! [`Health`](super::Health)), so tests running side by side do not disturb each other.

#[cfg(feature = "fault-injection")]
use std::collections::HashMap;
use std::future::Future;
#[cfg(feature = "fault-injection")]
use std::sync::Mutex;
#[cfg(feature = "fault-injection")]
use std::sync::atomic::{AtomicU32, Ordering};

#[cfg(feature = "fault-injection")]
use tokio::sync::watch;

#[derive(Default)]
pub struct Faults {
    #[cfg(feature = "fault-injection")]
    armed: Armed,
}

#[cfg(feature = "fault-injection")]
#[derive(Default)]
struct Armed {
    write_panics: AtomicU32,
    /// Per part: whether it is crashed.
    crashed: Mutex<HashMap<String, watch::Sender<bool>>>,
}

#[cfg(feature = "fault-injection")]
impl Faults {
    /// The next `n` write jobs panic inside their group.
    pub fn panic_next_writes(&self, n: u32) {
        self.armed.write_panics.store(n, Ordering::SeqCst);
    }

    /// How many of those have not run yet.
    pub fn write_panics_left(&self) -> u32 {
        self.armed.write_panics.load(Ordering::SeqCst)
    }

    /// `part` panics until [`Faults::heal`]: a task started by the supervisor now and at every
    /// start; the writer thread (`store-writer`) before its next group, outside any write; the
    /// checkpointer (`store-checkpoint`) in every round.
    pub fn crash(&self, part: &str) {
        self.flag(part).send_replace(true);
    }

    /// `part` starts normally again.
    pub fn heal(&self, part: &str) {
        self.flag(part).send_replace(false);
    }

    fn flag(&self, part: &str) -> watch::Sender<bool> {
        let mut parts = self.armed.crashed.lock().unwrap_or_else(|p| p.into_inner());
        parts
            .entry(part.to_string())
            .or_insert_with(|| watch::Sender::new(false))
            .clone()
    }
}

impl Faults {
    /// Whether this write job is to panic (consumes one).
    pub(crate) fn take_write_panic(&self) -> bool {
        #[cfg(feature = "fault-injection")]
        return self
            .armed
            .write_panics
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        #[cfg(not(feature = "fault-injection"))]
        false
    }

    /// Whether `part` is to panic now.
    pub(crate) fn crashed(&self, part: &str) -> bool {
        #[cfg(feature = "fault-injection")]
        return *self.flag(part).borrow();
        #[cfg(not(feature = "fault-injection"))]
        {
            let _ = part;
            false
        }
    }

    /// `task`, made to panic whenever `part` is crashed (unchanged without the feature).
    pub(crate) fn guard<Fut>(&self, part: &'static str, task: Fut) -> impl Future<Output = ()> + Send + use<Fut>
    where
        Fut: Future<Output = ()> + Send + 'static,
    {
        #[cfg(feature = "fault-injection")]
        {
            let mut crashed = self.flag(part).subscribe();
            async move {
                tokio::select! {
                    biased;
                    _ = crashed.wait_for(|c| *c) => panic!("fault injection: {part} crashed"),
                    () = task => {}
                }
            }
        }
        #[cfg(not(feature = "fault-injection"))]
        {
            let _ = part;
            task
        }
    }
}
