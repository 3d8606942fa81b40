//! The WebAssembly engine and one call: a pooled, fresh instance per call from a linked
//! [`PluginPre`], WASI linked with nothing granted, a memory cap, and a budget of guest
//! execution time enforced by epoch interruption.
//!
//! The budget counts time spent running guest code only: waits inside host calls (a key-value
//! write committing, a webhook being persisted) are subtracted, so a slow disk cannot make a
//! well-behaved plugin fail. The epoch ticker thread runs only while calls are in flight, so an
//! idle gateway spends no CPU on it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Engine, PoolingAllocationConfig, ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::{self, Plugin as Bindings, PluginPre};
use super::host_api::Services;
use crate::config::PluginsConfig;

/// How often the epoch advances while calls run; the budget is checked at each tick.
const TICK: Duration = Duration::from_millis(2);
/// Table elements one plugin may use (Python components need tens of thousands).
const TABLE_ELEMENTS: usize = 200_000;

/// Why a call did not produce an answer. Counted and logged with the plugin's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("exceeded its time budget of {0:?}")]
    Budget(Duration),
    #[error("exceeded its memory cap of {0} bytes")]
    Memory(u64),
    #[error("trapped: {0}")]
    Trap(String),
    #[error("answered something unusable: {0}")]
    Output(String),
}

/// Marker error returned by the epoch callback, to tell a budget stop from other traps.
#[derive(Debug)]
struct OverBudget;

impl std::fmt::Display for OverBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("plugin exceeded its time budget")
    }
}

impl std::error::Error for OverBudget {}

/// The engine, the linker, and what every call shares.
pub struct Runtime {
    pub engine: Engine,
    pub linker: Linker<State>,
    ticker: Ticker,
    permits: Semaphore,
    pub budget: Duration,
    pub memory: u64,
    pub services: Arc<Services>,
}

impl Runtime {
    pub fn new(config: &PluginsConfig, services: Services) -> anyhow::Result<Self> {
        let engine = Engine::new(&engine_config(config))?;
        let mut linker = Linker::<State>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        Bindings::add_to_linker::<State, wasmtime::component::HasSelf<State>>(&mut linker, |s| s)?;
        Ok(Self {
            ticker: Ticker::start(engine.clone()),
            engine,
            linker,
            permits: Semaphore::new(config.max_concurrent as usize),
            budget: config.budget,
            memory: config.memory,
            services: Arc::new(services),
        })
    }

    /// Runs `call` on a fresh instance of `pre`, as plugin `name` with its config table, stopping
    /// it once it has run `budget` of guest time.
    pub async fn call<T>(
        &self,
        name: &Arc<str>,
        config: &Arc<serde_json::Map<String, serde_json::Value>>,
        pre: &PluginPre<State>,
        budget: Duration,
        call: impl AsyncCall<T>,
    ) -> Result<T, Failure> {
        // Waiting for a slot is not the plugin's time: the budget starts once it has one.
        let _permit = self.permits.acquire().await.expect("the semaphore is never closed");
        let _running = self.ticker.running();
        let mut store = Store::new(
            &self.engine,
            State {
                wasi: WasiCtx::builder().build(),
                table: ResourceTable::new(),
                plugin: name.clone(),
                config: config.clone(),
                services: self.services.clone(),
                started: Instant::now(),
                in_host: Duration::ZERO,
                budget,
                memory: self.memory,
                memory_refused: false,
                event_origin: None,
                deliveries_asked: 0,
            },
        );
        store.limiter(|s| s);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|ctx| {
            if ctx.data().guest_time() > ctx.data().budget {
                return Err(OverBudget.into());
            }
            Ok(UpdateDeadline::Yield(1))
        });
        let result = match pre.instantiate_async(&mut store).await {
            Ok(instance) => call.run(&instance, &mut store).await,
            Err(e) => Err(e),
        };
        result.map_err(|e| self.classify(e, store.data()))
    }

    fn classify(&self, error: wasmtime::Error, state: &State) -> Failure {
        if error.downcast_ref::<OverBudget>().is_some() {
            Failure::Budget(state.budget)
        } else if state.memory_refused {
            Failure::Memory(self.memory)
        } else {
            Failure::Trap(format!("{error:#}"))
        }
    }
}

/// One hook call on an instance (a trait rather than a closure: the future must be `Send`).
pub trait AsyncCall<T>: Send {
    fn run(self, instance: &Bindings, store: &mut Store<State>) -> impl Future<Output = wasmtime::Result<T>> + Send;
}

fn engine_config(config: &PluginsConfig) -> wasmtime::Config {
    let n = config.max_concurrent;
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(n)
        .total_core_instances(n.saturating_mul(32))
        .max_core_instances_per_component(64)
        .total_memories(n.saturating_mul(4))
        .max_memories_per_component(8)
        .total_tables(n.saturating_mul(32))
        .max_tables_per_component(64)
        .table_elements(TABLE_ELEMENTS)
        .total_stacks(n)
        .max_core_instance_size(8 << 20)
        .max_component_instance_size(1 << 20)
        .max_memory_size(config.memory as usize);
    let mut cfg = wasmtime::Config::new();
    // Reserve only the cap per memory (not wasmtime's default 4 GiB): explicit bounds checks
    // cost little at plugin scale, and a pool of hundreds of slots stays small.
    cfg.wasm_component_model(true)
        .epoch_interruption(true)
        .memory_reservation(config.memory)
        .allocation_strategy(pool);
    cfg
}

/// What one instance may reach, and the accounting of its call.
pub struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    pub plugin: Arc<str>,
    pub config: Arc<serde_json::Map<String, serde_json::Value>>,
    pub services: Arc<Services>,
    started: Instant,
    /// Time spent inside host calls, which the budget does not count.
    pub in_host: Duration,
    budget: Duration,
    memory: u64,
    memory_refused: bool,
    /// The journal event an events-hook call is handling (`h42`, `i7`): webhook deliveries asked
    /// for during the call are keyed by it, so handing the event on again finds them.
    pub event_origin: Option<String>,
    /// Webhook deliveries asked for so far in this call.
    pub deliveries_asked: u32,
}

impl State {
    fn guest_time(&self) -> Duration {
        self.started.elapsed().saturating_sub(self.in_host)
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl ResourceLimiter for State {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired as u64 > self.memory {
            self.memory_refused = true;
            wasmtime::bail!("plugin exceeded its memory cap of {} bytes", self.memory);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= TABLE_ELEMENTS)
    }
}

/// Advances the engine's epoch every [`TICK`] while at least one call runs.
struct Ticker {
    running: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Arc<OnceLock<Thread>>,
}

impl Ticker {
    fn start(engine: Engine) -> Self {
        let running = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = Arc::new(OnceLock::new());
        let (r, s, t) = (running.clone(), stop.clone(), thread.clone());
        let handle = std::thread::Builder::new()
            .name("wapi-plugin-epoch".into())
            .spawn(move || {
                while !s.load(Ordering::Acquire) {
                    if r.load(Ordering::Acquire) == 0 {
                        std::thread::park();
                        continue;
                    }
                    std::thread::sleep(TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch ticker");
        let _ = t.set(handle.thread().clone());
        Self { running, stop, thread }
    }

    /// Marks a call as running until the guard drops.
    fn running(&self) -> RunningGuard<'_> {
        if self.running.fetch_add(1, Ordering::AcqRel) == 0
            && let Some(thread) = self.thread.get()
        {
            thread.unpark();
        }
        RunningGuard(&self.running)
    }
}

impl Drop for Ticker {
    /// Ends the thread, which lets go of its engine (and the engine's memory pool).
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.get() {
            thread.unpark();
        }
    }
}

struct RunningGuard<'a>(&'a AtomicUsize);

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

pub use bindings::wapi::plugin::types as wit;
