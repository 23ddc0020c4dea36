//! The per-call sandbox: store state, the locked-down WASI context, resource limits, the CPU
//! time limit, and the translation of a failed call into a [`RunStatus`] with a clear message.

use super::{Limits, RunStatus, human_size};
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime::{Engine, ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder, Trap, UpdateDeadline};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::clocks::{HostMonotonicClock, HostWallClock, WasiClocksCtxView, WasiClocksView};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::{DynPollable, OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// How often the epoch advances: how often a running plugin's CPU time is checked, at most.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// A call is stopped after this much wall-clock time even if it has not used its CPU time yet
/// (a machine too busy to give it its CPU must not hold the scan forever): 4 times its CPU time
/// limit, and at least that limit plus [`MIN_BACKSTOP_SLACK`].
const BACKSTOP_FACTOR: u32 = 4;
const MIN_BACKSTOP_SLACK: Duration = Duration::from_secs(10);

/// How wasmtime's error for an exhausted hostcall fuel starts (its type is private, so it is
/// recognized by its text; tests/plugin_hostile_scan.rs fails if that text changes).
const HOSTCALL_FUEL_EXHAUSTED: &str = "too much data is being copied between the host and the guest";

/// How much of the guest's stdout/stderr is kept (the end of it: a panic message comes last).
const OUTPUT_TAIL_BYTES: usize = 4096;

/// A plugin has no business with more than a handful of these; the defaults are in the thousands.
const MAX_INSTANCES: usize = 32;
const MAX_TABLES: usize = 32;
const MAX_MEMORIES: usize = 8;
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// The state of one store: one plugin call (`describe` at load, or one `analyze`).
pub(super) struct Sandbox {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: Limiter,
    output: OutputTail,
    cpu_budget: CpuBudget,
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// A linker with WASI p2 (sync) for guests built for wasm32-wasip2: their std imports the WASI
/// interfaces even when it never uses them. What they can reach is decided by [`new_store`]'s
/// context, plus the monotonic clock replaced here so that sleeping cannot block a host thread.
pub(super) fn linker(engine: &Engine) -> wasmtime::Result<Linker<Sandbox>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    linker.allow_shadowing(true);
    monotonic_clock::add_to_linker::<Sandbox, VirtualMonotonic>(&mut linker, |sandbox| {
        VirtualMonotonicView(sandbox.clocks())
    })?;
    linker.allow_shadowing(false);
    Ok(linker)
}

/// A fresh store for one call, with the memory cap and the CPU time limit armed. Create it on
/// the thread that makes the call, right before: the call's CPU time is that thread's CPU time
/// from here on (a synchronous wasmtime call runs on its caller's thread).
pub(super) fn new_store(engine: &Engine, limits: &Limits) -> Store<Sandbox> {
    let output = OutputTail::default();
    // No preopened directories, environment or arguments (a new builder has none and none are
    // added), stdin closed (reads see end of file), stdout and stderr into a small in-memory
    // tail, clocks frozen at the epoch, and no network at all (each use denied explicitly).
    let wasi = WasiCtxBuilder::new()
        .stdout(output.clone())
        .stderr(output.clone())
        .wall_clock(FrozenClock)
        .monotonic_clock(FrozenClock)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }))
        .build();
    let memory_limit = usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX);
    let limiter = Limiter {
        limits: StoreLimitsBuilder::new()
            .memory_size(memory_limit)
            .table_elements(MAX_TABLE_ELEMENTS)
            .instances(MAX_INSTANCES)
            .tables(MAX_TABLES)
            .memories(MAX_MEMORIES)
            .build(),
        memory_limit,
        refused_memory: None,
    };
    let cpu_budget = CpuBudget::start(limits.cpu_time);
    let mut store = Store::new(engine, Sandbox { wasi, table: ResourceTable::new(), limiter, output, cpu_budget });
    store.limiter(|sandbox| &mut sandbox.limiter);
    // What the host allocates to lift a call's result is capped too, while it is lifted (a
    // gigantic result must not be built in host memory first and measured after).
    store.set_hostcall_fuel(usize::try_from(limits.max_result_bytes).unwrap_or(usize::MAX));
    // The first check comes when the whole limit could have been used (a thread cannot use more
    // CPU time than wall time passes); each check then stops the call or sets the next one.
    store.set_epoch_deadline(deadline_ticks(limits.cpu_time));
    store.epoch_deadline_callback(|mut store| Ok(store.data_mut().cpu_budget.at_deadline()));
    store
}

/// The CPU time the call has used so far (call on the thread that made it).
pub(super) fn cpu_used(store: &Store<Sandbox>) -> Duration {
    store.data().cpu_budget.cpu_used()
}

/// Ticks until at least `time` has passed, one more than it needs: the first tick can come right
/// after the deadline is set, so only the ticks after it are whole. A check then never comes
/// before the plugin could have used `time` of CPU, and at most one tick after.
fn deadline_ticks(time: Duration) -> u64 {
    let whole_ticks = time.as_nanos().div_ceil(EPOCH_TICK.as_nanos());
    u64::try_from(whole_ticks).unwrap_or(u64::MAX).saturating_add(1)
}

/// One call's CPU time limit, checked at each epoch deadline. The deadline callback runs on the
/// thread executing the plugin, so it reads that thread's CPU clock: what the plugin's code used,
/// plus what the host did for it on that thread (copying files in, findings out), and nothing it
/// waited while other threads ran.
struct CpuBudget {
    limit: Duration,
    /// Wall-clock time after which the call is stopped whatever CPU time it used.
    backstop: Duration,
    thread: ThreadId,
    cpu_at_start: Duration,
    started: Instant,
    /// Why the call was stopped, once it is: what [`classify`] reports.
    stopped: Option<Stop>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Stop {
    /// It used its CPU time limit.
    CpuTime,
    /// It reached the wall-clock backstop first, having used this much CPU time.
    Backstop { cpu_used: Duration },
}

impl CpuBudget {
    fn start(limit: Duration) -> CpuBudget {
        let backstop = limit.saturating_mul(BACKSTOP_FACTOR).max(limit.saturating_add(MIN_BACKSTOP_SLACK));
        CpuBudget {
            limit,
            backstop,
            thread: std::thread::current().id(),
            cpu_at_start: thread_cpu_time(),
            started: Instant::now(),
            stopped: None,
        }
    }

    fn cpu_used(&self) -> Duration {
        debug_assert_eq!(std::thread::current().id(), self.thread, "a plugin call moved to another thread");
        thread_cpu_time().saturating_sub(self.cpu_at_start)
    }

    fn at_deadline(&mut self) -> UpdateDeadline {
        match self.next_check(self.cpu_used(), self.started.elapsed()) {
            Ok(ticks) => UpdateDeadline::Continue(ticks),
            Err(stop) => {
                self.stopped = Some(stop);
                UpdateDeadline::Interrupt
            }
        }
    }

    /// Given the CPU time used and the wall-clock time passed: why to stop, or the ticks until
    /// the next check (when the rest of the CPU time or of the backstop could be used up).
    fn next_check(&self, cpu_used: Duration, elapsed: Duration) -> Result<u64, Stop> {
        if cpu_used >= self.limit {
            return Err(Stop::CpuTime);
        }
        if elapsed >= self.backstop {
            return Err(Stop::Backstop { cpu_used });
        }
        Ok(deadline_ticks((self.limit - cpu_used).min(self.backstop - elapsed)))
    }
}

/// The CPU time the calling thread has used since it started.
fn thread_cpu_time() -> Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(u64::try_from(now.tv_sec).unwrap_or(0), u32::try_from(now.tv_nsec).unwrap_or(0))
}

/// Turns the result of a call into the status the report shows. Order matters: a plugin that ran
/// out of memory usually dies by trapping (Rust aborts on allocation failure), so the limiter's
/// record of a refused grow is checked first rather than guessing from the trap.
pub(super) fn classify<T>(
    store: &Store<Sandbox>,
    limits: &Limits,
    result: wasmtime::Result<T>,
) -> Result<T, (RunStatus, String)> {
    let error = match result {
        Ok(value) => return Ok(value),
        Err(error) => error,
    };
    let sandbox = store.data();
    let (status, message) = if let Some(desired) = sandbox.limiter.refused_memory {
        (
            RunStatus::OutOfMemory,
            format!(
                "exceeded the memory limit of {} (tried to grow its memory to {})",
                human_size(limits.memory_bytes),
                human_size(desired as u64)
            ),
        )
    } else if error.chain().any(|cause| cause.to_string().starts_with(HOSTCALL_FUEL_EXHAUSTED)) {
        (
            RunStatus::OutOfMemory,
            format!(
                "returned more data than the limit of {} a plugin may return from one call",
                human_size(limits.max_result_bytes)
            ),
        )
    } else if let Some(stop) = sandbox.cpu_budget.stopped {
        let limit = limits.cpu_time.as_secs_f64();
        let message = match stop {
            Stop::CpuTime => format!("exceeded the CPU time limit of {limit:.1} s and was stopped"),
            Stop::Backstop { cpu_used } => format!(
                "was stopped by the wall-clock backstop of {:.1} s after using {:.1} s of its CPU time \
                 limit of {limit:.1} s (the machine was too busy to give it its CPU time)",
                sandbox.cpu_budget.backstop.as_secs_f64(),
                cpu_used.as_secs_f64()
            ),
        };
        (RunStatus::TimedOut, message)
    } else if let Some(trap) = error.downcast_ref::<Trap>() {
        (RunStatus::Trapped, format!("trapped: {trap}"))
    } else {
        // Not a wasm trap: e.g. the guest called exit, or returned a value the host could not
        // lift. Still an abnormal end of the plugin, not an `err` it chose to return.
        (RunStatus::Trapped, format!("failed: {error}"))
    };
    let output = sandbox.output.text();
    if output.is_empty() {
        Err((status, message))
    } else {
        Err((status, format!("{message}; plugin output: {output}")))
    }
}

/// The store limits, plus a record of whether a memory grow was refused because of them: the
/// reliable sign that a plugin ran out of memory (rather than parsing trap messages).
struct Limiter {
    limits: StoreLimits,
    memory_limit: usize,
    refused_memory: Option<usize>,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        if !allowed && desired > self.memory_limit {
            self.refused_memory = Some(desired);
        }
        Ok(allowed)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// Wall and monotonic clock that never move: plugins must not depend on (or learn) the time.
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        0
    }
}

/// `wasi:clocks/monotonic-clock` with virtual time. The stock implementation sleeps for real in
/// `subscribe-*` + `poll`, and the epoch deadline cannot interrupt a host call, so a plugin could
/// park a scan thread for as long as it likes (`subscribe-instant(u64::MAX)` is forever). Here
/// every timer is due at once; a plugin that keeps waiting keeps running wasm, which the deadline
/// does stop.
struct VirtualMonotonic;

impl HasData for VirtualMonotonic {
    type Data<'a> = VirtualMonotonicView<'a>;
}

struct VirtualMonotonicView<'a>(WasiClocksCtxView<'a>);

impl monotonic_clock::Host for VirtualMonotonicView<'_> {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        self.0.now()
    }

    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Duration> {
        self.0.resolution()
    }

    fn subscribe_instant(&mut self, _when: monotonic_clock::Instant) -> wasmtime::Result<Resource<DynPollable>> {
        self.0.subscribe_duration(0)
    }

    fn subscribe_duration(&mut self, _duration: monotonic_clock::Duration) -> wasmtime::Result<Resource<DynPollable>> {
        self.0.subscribe_duration(0)
    }
}

/// The last [`OUTPUT_TAIL_BYTES`] the guest wrote to stdout and stderr (both land here).
#[derive(Clone, Default)]
struct OutputTail(Arc<Mutex<VecDeque<u8>>>);

impl OutputTail {
    fn push(&self, bytes: &[u8]) {
        let mut tail = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let keep = &bytes[bytes.len().saturating_sub(OUTPUT_TAIL_BYTES)..];
        let overflow = (tail.len() + keep.len()).saturating_sub(OUTPUT_TAIL_BYTES);
        tail.drain(..overflow);
        tail.extend(keep);
    }

    /// The tail as text on one line: newlines become " | " so it fits a report cell. Rust's hint
    /// to set RUST_BACKTRACE is dropped: a plugin has no environment, so it cannot be followed.
    fn text(&self) -> String {
        let tail = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let bytes: Vec<u8> = tail.iter().copied().collect();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::trim_end)
            .filter(|line| !line.is_empty() && !line.starts_with("note: run with `RUST_BACKTRACE=1`"))
            .collect::<Vec<_>>()
            .join(" | ")
    }
}

impl IsTerminal for OutputTail {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for OutputTail {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for OutputTail {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        // Always writable: older bytes are dropped instead of blocking the guest.
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for OutputTail {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for OutputTail {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`] for as long as it lives; dropping it stops and
/// joins the thread (within one tick at most, as the channel's disconnection wakes it).
pub(super) struct EpochTicker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    pub(super) fn start(engine: &Engine) -> io::Result<Self> {
        let engine = engine.clone();
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new().name("ecr-plugin-epoch".into()).spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(EPOCH_TICK) {
                engine.increment_epoch();
            }
        })?;
        Ok(EpochTicker { stop: Some(stop), thread: Some(thread) })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // The thread only loops and cannot panic; nothing to report if it somehow did.
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_is_whole_ticks_plus_the_partial_first_one() {
        assert_eq!(deadline_ticks(Duration::from_secs(2)), 201);
        assert_eq!(deadline_ticks(Duration::from_millis(15)), 3);
        assert_eq!(deadline_ticks(Duration::ZERO), 1);
    }

    #[test]
    fn each_check_stops_at_the_cpu_limit_or_the_backstop_or_waits_for_the_rest() {
        let ms = Duration::from_millis;
        let budget = CpuBudget::start(ms(400));
        assert_eq!(budget.backstop, ms(10_400));
        assert_eq!(CpuBudget::start(Duration::from_secs(10)).backstop, Duration::from_secs(40));
        // The CPU time left decides when a busy plugin is checked next...
        assert_eq!(budget.next_check(ms(100), ms(150)), Ok(31));
        // ...the backstop's rest when that is shorter (a plugin that got little CPU).
        assert_eq!(budget.next_check(ms(50), ms(10_300)), Ok(11));
        assert_eq!(budget.next_check(ms(400), ms(450)), Err(Stop::CpuTime));
        assert_eq!(budget.next_check(ms(401), ms(20_000)), Err(Stop::CpuTime));
        assert_eq!(budget.next_check(ms(120), ms(10_400)), Err(Stop::Backstop { cpu_used: ms(120) }));
    }

    #[test]
    fn the_budget_counts_this_threads_cpu_time_not_its_waiting() {
        let budget = CpuBudget::start(Duration::from_secs(1));
        std::thread::sleep(Duration::from_millis(200));
        let after_sleep = budget.cpu_used();
        assert!(after_sleep < Duration::from_millis(100), "sleeping used {after_sleep:?} of CPU");
        let mut counter = 0u64;
        while budget.cpu_used() < Duration::from_millis(50) {
            counter = std::hint::black_box(counter.wrapping_add(1));
        }
        assert!(budget.started.elapsed() >= Duration::from_millis(250));
    }

    #[test]
    fn output_tail_keeps_the_end() {
        let tail = OutputTail::default();
        tail.push(&vec![b'a'; OUTPUT_TAIL_BYTES]);
        tail.push(b"\npanicked at lib.rs:\nboom\nnote: run with `RUST_BACKTRACE=1` environment variable\n");
        let text = tail.text();
        assert!(text.ends_with("panicked at lib.rs: | boom"), "{text}");
        assert_eq!(tail.0.lock().unwrap().len(), OUTPUT_TAIL_BYTES);
        tail.push(&vec![b'z'; 3 * OUTPUT_TAIL_BYTES]);
        assert_eq!(tail.text(), "z".repeat(OUTPUT_TAIL_BYTES));
    }
}
