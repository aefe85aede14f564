//! A backlog worker: one lcore-pinned thread that polls its sources in
//! NAPI-like rounds and forwards what it gets.
//!
//! Sources are the worker's RX queues and, with RPS, its backlog ring
//! (`softnet_data.input_pkt_queue` in Linux). A round visits them through
//! [`crate::napi::RoundRobin`]. With RPS, packets from RX are steered by
//! flow hash ([`steer`]): to this worker inline (local fast path) or into
//! the target worker's backlog, one enqueue burst per target per poll.
//!
//! The worker owns its RX queues, one TX queue per port, one TX buffer per
//! port and one staging burst per RPS target: its fast path writes nothing
//! shared except its own counters (single writer) and the MP/SC backlog
//! rings. It never allocates, locks, logs or panics after `run` starts.
//!
//! Idle: with `napi.idle = "park"`, a worker that found nothing for
//! `park_after_rounds` rounds sleeps on its eventfd for at most
//! `max_sleep_us`; a producer that enqueues to a parked worker kicks it once
//! per burst (the user-space IPI). RX queues of a parked worker are polled
//! again when the sleep times out, so they wait at most `max_sleep_us`.

mod adapt;
mod balance;
mod forward;
mod free;
mod overload;
mod steer;

use std::sync::atomic::{fence, AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::dpdk::{
    cycles, os, MbufBurst, RingConsumer, RingProducer, RxQueue, RxTscField, TxQueue,
};
use crate::drop_reason::DropReason;
use crate::napi::{NapiBudget, RoundRobin, SourceKind};
use crate::plan::Plan;
use crate::rps::{FlowLimit, RpsMap};
use crate::stats::WorkerCounters;

pub use free::{FreeParams, FreeSetup};
pub use overload::{OverloadSetup, PacketFilter};
pub use steer::HashSource;

use adapt::Adaptive;
use free::Reclaim;
use overload::OverloadState;

/// Packets per rx_burst call, per TX buffer and per staging burst
/// (l3fwd's MAX_PKT_BURST).
pub const BURST: usize = 32;

/// The control plane's (and other workers') handle on a worker.
#[derive(Debug)]
pub struct WorkerControl {
    /// Stop polling RX (first phase of a graceful stop).
    stop_rx: AtomicBool,
    /// The worker saw `stop_rx` and will not enqueue to any backlog again.
    rx_stopped: AtomicBool,
    /// Drain the backlog, flush TX and return (second phase).
    stop: AtomicBool,
    /// The worker is (about to be) asleep on `wake`.
    parked: AtomicBool,
    /// The worker's overload detector says it is overloaded (written by the
    /// worker only; read by producers and the filter).
    overloaded: AtomicBool,
    /// Packets producers turned away from this worker because of its
    /// overload (policy drop or filter): the one multi-writer counter,
    /// added to once per burst with the burst's tally.
    refused: AtomicU64,
    /// Commands wait in the worker's inbox (checked once per round).
    pending: AtomicBool,
    /// Stop phase 2 done: backlog drained, TX flushed; the worker now only
    /// frees what others still defer to it, until `finish`.
    drained: AtomicBool,
    /// Stop phase 3: every worker is drained, nobody defers any more.
    finish: AtomicBool,
    /// Every worker is launched: start polling. A worker that polled RX
    /// before its peers run would fill their backlogs with nobody to drain
    /// them (and, at SCHED_FIFO on the main lcore's CPU, keep the control
    /// plane from launching them at all).
    go: AtomicBool,
    /// The errno of a failed switch to SCHED_FIFO (0: none); the worker
    /// returns right after setting it.
    sched_errno: AtomicI32,
    /// Kicked by producers and by the control plane.
    wake: os::EventFd,
}

impl WorkerControl {
    /// A control block with its eventfd.
    pub fn new() -> std::io::Result<WorkerControl> {
        Ok(WorkerControl {
            stop_rx: AtomicBool::new(false),
            rx_stopped: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            parked: AtomicBool::new(false),
            overloaded: AtomicBool::new(false),
            refused: AtomicU64::new(0),
            pending: AtomicBool::new(false),
            drained: AtomicBool::new(false),
            finish: AtomicBool::new(false),
            go: AtomicBool::new(false),
            sched_errno: AtomicI32::new(0),
            wake: os::EventFd::new()?,
        })
    }

    /// Phase 1 of a stop: the worker stops polling its RX queues (and so
    /// stops feeding other workers' backlogs) but keeps serving its backlog.
    pub fn request_stop_rx(&self) {
        self.stop_rx.store(true, Ordering::Release);
        self.wake.kick();
    }

    /// True once the worker acknowledged [`request_stop_rx`](Self::request_stop_rx):
    /// from then on it enqueues to no backlog.
    pub fn rx_stopped(&self) -> bool {
        self.rx_stopped.load(Ordering::Acquire)
    }

    /// Why the worker could not switch to SCHED_FIFO, if it could not (it
    /// has then returned [`EXIT_SCHED_FAILED`] without polling anything).
    pub fn sched_failure(&self) -> Option<std::io::Error> {
        match self.sched_errno.load(Ordering::Acquire) {
            0 => None,
            e => Some(std::io::Error::from_raw_os_error(e)),
        }
    }

    /// Phase 2: drain the backlog, flush TX buffers, return. Call once every
    /// worker's [`rx_stopped`](Self::rx_stopped) is true, so no backlog can
    /// receive packets after it was drained.
    pub fn request_stop(&self) {
        self.stop_rx.store(true, Ordering::Release);
        self.stop.store(true, Ordering::Release);
        self.wake.kick();
    }

    /// True once the worker finished stop phase 2 (backlog drained, TX
    /// flushed).
    pub fn drained(&self) -> bool {
        self.drained.load(Ordering::Acquire)
    }

    /// Stop phase 3: call once every worker is [`drained`](Self::drained);
    /// the worker frees its defer ring a last time and returns.
    pub fn request_finish(&self) {
        self.finish.store(true, Ordering::Release);
    }

    /// Lets the worker start polling (once every worker is launched).
    pub fn start(&self) {
        self.go.store(true, Ordering::Release);
        self.wake.kick();
    }

    /// Tells the worker a command is in its inbox (after sending it).
    pub fn notify(&self) {
        self.pending.store(true, Ordering::Release);
        self.wake.kick();
    }

    /// Wakes the worker if it is parked. Called by producers after an
    /// enqueue; pairs with the fence in [`park`].
    #[inline(always)]
    fn kick_if_parked(&self) -> bool {
        // Dekker pattern with park(): the producer's ring enqueue, then this
        // fence, then the load of `parked`; the worker's store of `parked`,
        // its fence, then its ring count. One of the two sees the other.
        fence(Ordering::SeqCst);
        if self.parked.load(Ordering::Relaxed) {
            self.wake.kick();
            true
        } else {
            false
        }
    }
}

/// RPS: where this worker sends the flows it receives.
#[derive(Debug)]
pub struct Steering {
    /// The rps map.
    pub map: RpsMap,
    /// Producer end of every worker's backlog, by worker id (`None` for
    /// workers outside the map).
    pub backlogs: Vec<Option<RingProducer>>,
    /// Every worker's control block, by worker id (to kick parked ones).
    pub peers: Vec<Arc<WorkerControl>>,
    /// Where the flow hash comes from.
    pub hash: HashSource,
    /// Hash both directions of a flow alike.
    pub symmetric: bool,
    /// Flows steered to this worker are processed inline, not via its ring.
    pub local_fast_path: bool,
    /// Linux flow limit per target backlog, if enabled.
    pub flow_limit: Option<u32>,
    /// The backlogs' capacity (`max_backlog`).
    pub max_backlog: u32,
    /// Every worker's counters, by worker id (adaptive RPS reads them).
    pub peer_counters: Vec<Arc<WorkerCounters>>,
    /// `rps.adaptive`: steer only while it pays.
    pub adaptive: bool,
    /// `rps.balance`: find the share of the flows this worker keeps by
    /// climbing the throughput.
    pub balance: bool,
}

/// How a worker behaves when it finds no work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idle {
    /// Busy-poll forever (lowest latency, one full core per worker).
    Poll,
    /// Sleep after `after_rounds` empty rounds, for at most `max_sleep`.
    Park {
        /// Empty rounds before parking.
        after_rounds: u32,
        /// Longest sleep; bounds the RX latency of a parked worker.
        max_sleep: Duration,
    },
}

/// A live change (SIGHUP reload), applied by the worker between rounds.
/// The old values travel back to the control plane in [`Reply::Applied`]
/// and are dropped there, after every worker let go of them (RCU-style: no
/// worker ever sees a table being freed under it).
#[derive(Debug)]
pub struct Update {
    /// The new forwarding plan.
    pub plan: Arc<Plan>,
    /// New weights and budgets.
    pub budget: NapiBudget,
    /// New idle behaviour.
    pub idle: Idle,
    /// New steering (same rings and peers, new map and parameters).
    pub steering: Option<Steering>,
    /// New overload policy (the detector restarts in the normal state).
    pub overload: Option<OverloadSetup>,
    /// New freeing parameters.
    pub free: FreeParams,
    /// New synthetic cost.
    pub per_packet_cycles: u64,
    /// New TX flush timer (`forward.tx_drain_us`), TSC ticks.
    pub tx_drain_ticks: u64,
    /// Scheduling class to switch to, if it changes.
    pub sched: Option<os::SchedClass>,
    /// A new set of RX queues (only sent while RX is paused everywhere).
    pub rx: Option<Vec<RxQueue>>,
}

/// What the old state was, returned for the control plane to drop.
#[derive(Debug)]
pub struct Retired {
    /// The previous plan.
    pub plan: Arc<Plan>,
    /// The previous steering.
    pub steering: Option<Steering>,
}

/// Control-plane commands (crossbeam channel; never packets).
#[derive(Debug)]
pub enum Command {
    /// Stop polling RX queues until [`Command::ResumeRx`]; reply once no
    /// more enqueue from this worker can happen.
    PauseRx,
    /// Poll RX queues again.
    ResumeRx,
    /// Hand the RX queues back (only while paused).
    TakeRx,
    /// Poll these RX queues too: what a [`Command::TakeRx`] took, given
    /// back when the reload that took them gave up.
    GiveRx(Vec<RxQueue>),
    /// Apply a live change.
    Apply(Box<Update>),
}

/// Worker replies to [`Command`]s, tagged with the worker id.
#[derive(Debug)]
pub enum Reply {
    /// RX is paused.
    RxPaused(usize),
    /// RX runs again.
    RxResumed(usize),
    /// The worker's RX queues.
    Rx(usize, Vec<RxQueue>),
    /// The update is in effect; here is what it replaced.
    Applied(usize, Box<Retired>),
}

/// Everything a worker is built from.
#[derive(Debug)]
pub struct WorkerSetup {
    /// Worker index.
    pub id: usize,
    /// The lcore it runs on.
    pub lcore: u32,
    /// RX queues it polls.
    pub rx: Vec<RxQueue>,
    /// Its TX queue on every output port, by port index (`None` for ports
    /// nothing is ever forwarded to).
    pub tx: Vec<Option<TxQueue>>,
    /// Its backlog (consumer end), when it is in the rps map.
    pub backlog: Option<RingConsumer>,
    /// RPS steering of what it receives, when RPS is on.
    pub steering: Option<Steering>,
    /// The forwarding plan.
    pub plan: Arc<Plan>,
    /// NAPI weights and budgets.
    pub budget: NapiBudget,
    /// Idle behaviour.
    pub idle: Idle,
    /// TX buffers older than this many TSC ticks are flushed.
    pub tx_drain_ticks: u64,
    /// At stop, the backlog is forwarded for at most this many TSC ticks.
    pub drain_ticks: u64,
    /// Benchmark-only synthetic cost per forwarded packet, in TSC cycles.
    pub per_packet_cycles: u64,
    /// The overload policy, when one is configured.
    pub overload: Option<OverloadSetup>,
    /// How dropped mbufs are freed.
    pub free: FreeSetup,
    /// Scheduling class to run in (None: leave as EAL started it).
    pub sched: Option<os::SchedClass>,
    /// Stamp packets at RX and record their latency at TX.
    pub latency: Option<RxTscField>,
    /// Its counters (shared with readers).
    pub counters: Arc<WorkerCounters>,
    /// Its control block.
    pub control: Arc<WorkerControl>,
    /// Shared by all workers: nobody polls before everybody is ready.
    pub start: Arc<StartGate>,
    /// Commands from the control plane.
    pub inbox: crossbeam_channel::Receiver<Command>,
    /// Replies to the control plane.
    pub replies: crossbeam_channel::Sender<Reply>,
}

/// The per-worker state the poll closure borrows mutably.
struct Io {
    id: usize,
    rx: Vec<RxQueue>,
    tx: Vec<Option<TxQueue>>,
    txbufs: Vec<MbufBurst<BURST>>,
    backlog: Option<RingConsumer>,
    steering: Option<Steering>,
    /// One staging burst per worker id (RPS targets).
    stage: Vec<MbufBurst<BURST>>,
    /// One flow-limit table per worker id, when the flow limit is on.
    flow_limits: Vec<FlowLimit>,
    /// Packets refused per worker id in the current burst (overload).
    refused: Vec<u32>,
    /// Per worker id: its backlog is above the high watermark (the filter
    /// engages for it before its detector confirms the overload).
    filter_hot: Vec<bool>,
    plan: Arc<Plan>,
    counters: Arc<WorkerCounters>,
    control: Arc<WorkerControl>,
    per_packet_cycles: u64,
    /// Partial TX buffers go out at least this often (TSC ticks).
    tx_drain_ticks: u64,
    overload: Option<OverloadState>,
    adaptive: Option<Adaptive>,
    reclaim: Reclaim,
    latency: Option<RxTscField>,
    budget: NapiBudget,
    idle: Idle,
    /// RX paused by the control plane (reload of the rps map or RX queues).
    rx_paused: bool,
    /// The last RX burst steered sent packets towards another worker
    /// (staged for its backlog): their mbufs come back through the pool
    /// from that worker's core.
    handed_off: bool,
    burst: MbufBurst<BURST>,
    drops: MbufBurst<BURST>,
}

/// The start barrier: every worker arrives once it is allowed to go, and
/// polls only when all have arrived.
#[derive(Debug)]
pub struct StartGate {
    arrived: AtomicUsize,
    expected: usize,
}

impl StartGate {
    /// A gate for `workers` workers.
    pub fn new(workers: usize) -> StartGate {
        StartGate {
            arrived: AtomicUsize::new(0),
            expected: workers,
        }
    }

    fn arrive(&self) {
        self.arrived.fetch_add(1, Ordering::AcqRel);
    }

    fn all_arrived(&self) -> bool {
        self.arrived.load(Ordering::Acquire) >= self.expected
    }
}

/// How many mbufs ahead a worker prefetches a burst from its backlog: the
/// whole burst, as soon as it is dequeued. The best distance depends on how
/// many misses the core keeps in flight, and the two hosts this ran on
/// disagreed: on the first, 4 ahead beat the whole burst (the forwarding
/// worker at 300 cycles: 399-400 vs 426-432 cycles per packet); on the
/// second (a 2026-11-26 VM, AMD family 26), the pipeline at 0 cycles
/// (benches/rps.sh `steer-c0`, alternating 3 s runs in the fast state)
/// forwarded 45 Mpps with 2 ahead, 56.6-56.8 with 4, 57.7-58.6 with 8,
/// 60.7-62.8 with 12, 61.8-63.2 with 16 and 63.6-65.2 with the whole
/// burst (forwarding worker 45.5 -> 39.4-40.3 cycles per packet).
const PREFETCH_AHEAD: usize = BURST;

/// Test-only fault injection: with `NAPIFWD_TEST_SCHED_FAIL=ID`, worker
/// ID's switch to SCHED_FIFO fails with EPERM after the control plane's
/// own check passed (which the tests cannot arrange otherwise). Read once.
fn fault_sched_fail(id: usize) -> bool {
    static ID: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    *ID.get_or_init(|| std::env::var("NAPIFWD_TEST_SCHED_FAIL").ok()?.parse().ok()) == Some(id)
}

/// Test-only fault injection: with `NAPIFWD_TEST_TAKE_RX_DELAY_MS=MS`
/// every worker, with `MS@ID` only worker ID, sleeps MS milliseconds
/// before answering [`Command::TakeRx`], so the tests can make a reload's
/// hand-over of RX queues time out (a worker cannot be made that slow
/// between two rounds otherwise). Read once.
fn fault_take_rx_delay(id: usize) -> Option<Duration> {
    static DELAY: std::sync::OnceLock<Option<(u64, Option<usize>)>> = std::sync::OnceLock::new();
    let (ms, only) = (*DELAY.get_or_init(|| {
        let v = std::env::var("NAPIFWD_TEST_TAKE_RX_DELAY_MS").ok()?;
        match v.split_once('@') {
            Some((ms, w)) => Some((ms.parse().ok()?, Some(w.parse().ok()?))),
            None => Some((v.parse().ok()?, None)),
        }
    }))?;
    only.is_none_or(|w| w == id)
        .then(|| Duration::from_millis(ms))
}

/// Lcore exit status of a worker that could not switch to SCHED_FIFO.
pub const EXIT_SCHED_FAILED: i32 = 3;

/// Runs a worker until asked to stop. Returns 0 (the lcore exit status), or
/// [`EXIT_SCHED_FAILED`].
pub fn run(setup: WorkerSetup) -> i32 {
    os::set_thread_name(&format!("napifwd-w{}", setup.id));
    // Wait (asleep, not spinning: still SCHED_OTHER here) until every
    // worker runs, or until the control plane gives up on starting.
    while !setup.control.go.load(Ordering::Acquire) && !setup.control.stop.load(Ordering::Acquire) {
        setup.control.wake.wait(Duration::from_millis(1));
    }
    // Then wait for the others to get this far (still asleep): a worker
    // sharing a CPU with the control plane would otherwise start polling
    // while the control plane has yet to let the rest go, and what it
    // steers would sit in their backlogs for a time slice.
    setup.start.arrive();
    while !setup.start.all_arrived() && !setup.control.stop.load(Ordering::Acquire) {
        setup.control.wake.wait(Duration::from_micros(20));
    }
    if let Some(class) = setup.sched {
        let switched = if fault_sched_fail(setup.id) {
            Err(std::io::Error::from_raw_os_error(libc::EPERM))
        } else {
            os::set_sched_class(class)
        };
        if let Err(e) = switched {
            // The control plane checked the permission before launching
            // (something changed it since, e.g. RLIMIT_RTPRIO or the
            // cgroup's RT budget): report rather than run in the wrong
            // class. The control plane sees it and stops the run.
            setup.control.rx_stopped.store(true, Ordering::Release);
            setup.control.drained.store(true, Ordering::Release);
            setup
                .control
                .sched_errno
                .store(e.raw_os_error().unwrap_or(libc::EPERM), Ordering::Release);
            return EXIT_SCHED_FAILED;
        }
    }
    let nports = setup.tx.len();
    let nworkers = setup.steering.as_ref().map_or(0, |s| s.peers.len());
    let flow_limits = match setup.steering.as_ref().and_then(|s| s.flow_limit) {
        Some(len) => (0..nworkers).map(|_| FlowLimit::new(len)).collect(),
        None => Vec::new(),
    };
    let mut io = Io {
        id: setup.id,
        rx: setup.rx,
        tx: setup.tx,
        txbufs: (0..nports).map(|_| MbufBurst::new()).collect(),
        backlog: setup.backlog,
        steering: setup.steering,
        stage: (0..nworkers).map(|_| MbufBurst::new()).collect(),
        flow_limits,
        refused: vec![0; nworkers],
        filter_hot: vec![false; nworkers],
        plan: setup.plan,
        counters: setup.counters,
        control: setup.control,
        per_packet_cycles: setup.per_packet_cycles,
        tx_drain_ticks: setup.tx_drain_ticks,
        overload: setup
            .overload
            .map(|o| OverloadState::new(o, cycles::rdtsc())),
        adaptive: None,
        reclaim: Reclaim::new(setup.id, setup.free, cycles::rdtsc()),
        latency: setup.latency,
        budget: setup.budget,
        idle: setup.idle,
        rx_paused: false,
        handed_off: false,
        burst: MbufBurst::new(),
        drops: MbufBurst::new(),
    };
    let (inbox, replies) = (setup.inbox, setup.replies);
    let mut rr = RoundRobin::default();
    let mut last_drain = cycles::rdtsc();
    // Where the next round starts: where the last one ended.
    let mut round_start = last_drain;
    let mut empty_rounds = 0u32;
    let c = io.counters.clone();
    let ctl = io.control.clone();
    let mut kinds = io.source_kinds();
    io.reset_adaptive();

    loop {
        // Load first, swap only when set: a swap is a store, and a store
        // every round would keep this control block's cache line modified
        // here, so every producer's kick_if_parked (which reads `parked`
        // on the same line after each enqueue) would miss on it.
        if ctl.pending.load(Ordering::Relaxed) && ctl.pending.swap(false, Ordering::Acquire) {
            while let Ok(cmd) = inbox.try_recv() {
                if io.handle(cmd, &replies) {
                    kinds = io.source_kinds();
                    rr = RoundRobin::default();
                }
            }
            // A reload's work is neither busy nor idle polling.
            round_start = cycles::rdtsc();
        }
        let n_rx = io.rx.len();
        let stopping_rx = ctl.stop_rx.load(Ordering::Acquire);
        let rx_on = !stopping_rx && !io.rx_paused;
        // Acknowledge a stop's phase 1 only, never a reload's pause: a
        // paused worker polls RX again after the reload, so its pause says
        // nothing about the stop (it did once, and a stop after a
        // regrouping reload drained backlogs that were still being fed).
        if stopping_rx && !ctl.rx_stopped.load(Ordering::Relaxed) {
            // Every enqueue this worker made happened before this store.
            ctl.rx_stopped.store(true, Ordering::Release);
        }
        if ctl.stop.load(Ordering::Acquire) {
            break;
        }
        // One TSC read per round: a round starts where the last one ended,
        // so busy and idle cycles add up to all the time spent in this
        // loop (the work between rounds, TX drains and the adaptive
        // steps, counts with the round after it). On a VM a read costs
        // ~32 cycles; two per round were half a cycle per packet at
        // 64-packet rounds.
        let t0 = round_start;
        let rx_ok = rx_on && io.rx_allowed(t0) && !io.adaptive_holds_rx();
        let budget = io.budget;
        // The round's last time-budget check (after its last visit) is
        // its end.
        let mut start = Some(t0);
        let mut end = None;
        let clock = || match start.take() {
            Some(t) => t,
            None => {
                let t = cycles::rdtsc();
                end = Some(t);
                t
            }
        };
        let out = rr.run_round(&budget, &kinds, clock, |i, quota| {
            if i < n_rx {
                if rx_ok {
                    io.poll_rx(i, quota)
                } else {
                    0
                }
            } else {
                io.poll_backlog(quota)
            }
        });
        // A round cut short by the packet budget made no check after its
        // last visit.
        let t1 = end.unwrap_or_else(cycles::rdtsc);
        round_start = t1;
        c.rounds.add(1);
        io.sample_overload(t1);
        io.adapt(t1);
        io.reclaim.flush_own(t1, out.packets == 0, &c);
        if out.packets > 0 {
            c.busy_cycles.add(t1.wrapping_sub(t0));
            empty_rounds = 0;
        } else {
            c.idle_cycles.add(t1.wrapping_sub(t0));
            empty_rounds = empty_rounds.saturating_add(1);
        }
        if out.budget_exhausted {
            c.budget_exhausted.add(1);
        }
        if out.time_exhausted {
            c.time_exhausted.add(1);
        }
        // Like l3fwd's BURST_TX_DRAIN_US: partial TX buffers go out on a
        // timer; and at once when the round found nothing (no more packets
        // are coming to fill them, so waiting only adds latency).
        if out.packets == 0 || t1.wrapping_sub(last_drain) >= io.tx_drain_ticks {
            io.flush_all();
            last_drain = t1;
        } else {
            let buffered: usize = io.txbufs.iter().map(MbufBurst::len).sum();
            c.tx_buffered.set(buffered as u64);
        }
        if let Idle::Park {
            after_rounds,
            max_sleep,
        } = io.idle
        {
            if empty_rounds >= after_rounds {
                io.park(max_sleep);
                empty_rounds = 0;
                last_drain = cycles::rdtsc();
                // Parked time is neither busy nor idle polling.
                round_start = last_drain;
            }
        }
    }
    // Phase 2 of the stop: nobody enqueues any more; finish what was accepted.
    io.drain_backlog(cycles::rdtsc().wrapping_add(setup.drain_ticks));
    io.flush_all();
    // Phase 3: other workers may still be draining and dropping mbufs this
    // worker owns into its defer ring; keep freeing until all are done.
    ctl.drained.store(true, Ordering::Release);
    while !ctl.finish.load(Ordering::Acquire) {
        io.reclaim.flush_all(cycles::rdtsc(), &c);
        std::thread::sleep(Duration::from_micros(50));
    }
    io.reclaim.flush_all(cycles::rdtsc(), &c);
    0
}

impl Io {
    /// (Re)starts adaptive RPS in steer mode when the steering asks for it
    /// and this worker receives anything.
    fn reset_adaptive(&mut self) {
        let n = self.stage.len();
        let id = self.id;
        self.adaptive = self
            .steering
            .as_ref()
            .filter(|_| !self.rx.is_empty())
            .and_then(|s| {
                let want = adapt::Want {
                    probing: s.adaptive,
                    balance: s.balance.then_some((s.map.workers(), id)),
                };
                Adaptive::new(cycles::tsc_hz(), cycles::rdtsc(), n, want)
            });
        self.restart_balance(cycles::rdtsc());
        self.counters.rps_local_mode.set(0);
        self.publish_share();
    }

    /// The poll sources: the RX queues, then the backlog.
    fn source_kinds(&self) -> Vec<SourceKind> {
        let mut kinds: Vec<SourceKind> = self.rx.iter().map(|_| SourceKind::RxQueue).collect();
        if self.backlog.is_some() {
            kinds.push(SourceKind::Backlog);
        }
        kinds
    }

    /// Handles one control command. Returns true when the poll sources changed.
    fn handle(&mut self, cmd: Command, replies: &crossbeam_channel::Sender<Reply>) -> bool {
        // A reply can only fail to send when the control plane is gone, in
        // which case a stop follows; nothing to do about it here.
        match cmd {
            Command::PauseRx => {
                self.rx_paused = true;
                // Whatever this worker staged was enqueued within the poll
                // that staged it: from here on it enqueues nothing.
                let _ = replies.send(Reply::RxPaused(self.id));
                false
            }
            Command::ResumeRx => {
                self.rx_paused = false;
                let _ = replies.send(Reply::RxResumed(self.id));
                false
            }
            Command::TakeRx => {
                if let Some(d) = fault_take_rx_delay(self.id) {
                    std::thread::sleep(d);
                }
                let rx = std::mem::take(&mut self.rx);
                let _ = replies.send(Reply::Rx(self.id, rx));
                true
            }
            Command::GiveRx(rx) => {
                self.rx.extend(rx);
                true
            }
            Command::Apply(u) => {
                let changed = u.rx.is_some();
                let retired = self.apply(*u);
                let _ = replies.send(Reply::Applied(self.id, Box::new(retired)));
                changed
            }
        }
    }

    /// Swaps in a live change; returns what it replaced.
    fn apply(&mut self, u: Update) -> Retired {
        self.flush_all();
        if let Some(class) = u.sched {
            // Checked by the control plane before sending; failing here
            // leaves the worker in its current class, which is safe.
            let _ = os::set_sched_class(class);
        }
        if self.overload.as_ref().is_some_and(|o| o.overloaded()) {
            self.control.overloaded.store(false, Ordering::Relaxed);
            self.counters.overload_state.set(0);
        }
        self.overload = u.overload.map(|o| OverloadState::new(o, cycles::rdtsc()));
        let nworkers = self.stage.len();
        self.flow_limits = match u.steering.as_ref().and_then(|s| s.flow_limit) {
            Some(len) => (0..nworkers).map(|_| FlowLimit::new(len)).collect(),
            None => Vec::new(),
        };
        self.reclaim.set_params(u.free);
        self.budget = u.budget;
        self.idle = u.idle;
        self.per_packet_cycles = u.per_packet_cycles;
        self.tx_drain_ticks = u.tx_drain_ticks;
        if let Some(rx) = u.rx {
            self.rx = rx;
        }
        let retired = Retired {
            plan: std::mem::replace(&mut self.plan, u.plan),
            steering: std::mem::replace(&mut self.steering, u.steering),
        };
        self.reset_adaptive();
        retired
    }

    /// Polls RX queue `i` for up to `quota` packets, steering or forwarding
    /// each burst as it arrives. Returns how many packets it took.
    #[inline(always)]
    fn poll_rx(&mut self, i: usize, quota: u32) -> u32 {
        let mut got = 0u32;
        // Whether bursts are steered cannot change during this visit
        // (modes and reloads change between rounds).
        let steering = self.steering.is_some() && !self.local_mode();
        while got < quota {
            let want = (quota - got).min(BURST as u32) as usize;
            let prefetch = steering && self.handed_off;
            let Some(q) = self.rx.get_mut(i) else {
                return got;
            };
            let n = q.rx_burst(&mut self.burst, want);
            let in_port = self.plan.port_index(q.ids().0);
            if n == 0 {
                break;
            }
            // The next burst's mbufs were freed on the other worker when RPS
            // hands packets over: fetch them while this burst is processed.
            // Only then (a heuristic: the last burst steered handed packets
            // to another core): for mbufs this core freed itself it is
            // wasted work (a map of this worker alone: 2 % of its throughput).
            if prefetch {
                q.prefetch_next_rx(BURST);
            }
            got += n as u32;
            self.counters.rx_packets.add(n as u64);
            if let Some(field) = self.latency {
                // One TSC read per RX burst: every packet of it shares the stamp.
                let now = cycles::rdtsc();
                for m in self.burst.as_mut_slice() {
                    field.set(m, now);
                }
            }
            if steering {
                self.steer_burst(in_port);
            } else {
                if self.overload.is_some() {
                    self.filter_burst();
                }
                self.forward_burst(in_port, 0);
            }
            if n < want {
                break;
            }
        }
        got
    }

    /// Polls the backlog for up to `quota` packets and forwards them.
    #[inline(always)]
    fn poll_backlog(&mut self, quota: u32) -> u32 {
        let mut got = 0u32;
        while got < quota {
            let want = (quota - got).min(BURST as u32) as usize;
            let Some(ring) = self.backlog.as_mut() else {
                return got;
            };
            // One ring call: the length before is what it took plus what
            // it left.
            let (n, left) = ring.dequeue_burst_left(&mut self.burst, want);
            let before = n as u64 + u64::from(left);
            let c = &self.counters;
            if before > c.backlog_high_water.get() {
                c.backlog_high_water.set(before);
            }
            c.backlog_len.set(u64::from(left));
            if n == 0 {
                break;
            }
            got += n as u32;
            c.rps_received.add(n as u64);
            // The producer's core wrote these mbufs: forward_burst keeps
            // the next few in flight rather than missing on each in turn.
            self.forward_burst(None, PREFETCH_AHEAD);
            if n < want {
                break;
            }
        }
        got
    }

    /// Forwards everything left in the backlog (used at stop).
    /// Forwards what is left in the backlog until it is empty or
    /// `deadline` (TSC) passes; then drops the rest as `shutdown`.
    fn drain_backlog(&mut self, deadline: u64) {
        while self.poll_backlog(BURST as u32) > 0 {
            if cycles::rdtsc() >= deadline {
                break;
            }
        }
        let Some(ring) = self.backlog.as_mut() else {
            return;
        };
        loop {
            let n = ring.dequeue_burst(&mut self.drops, BURST);
            if n == 0 {
                break;
            }
            self.counters.drop_n(DropReason::Shutdown, n as u64);
            self.drops.free_all();
        }
    }

    fn flush_all(&mut self) {
        for p in 0..self.txbufs.len() {
            if self.txbufs.get(p).is_some_and(|b| !b.is_empty()) {
                forward::flush(
                    &mut self.tx,
                    &mut self.txbufs,
                    &self.counters,
                    self.latency,
                    p,
                );
            }
        }
        self.counters.tx_buffered.set(0);
    }

    /// Sleeps until kicked or `max_sleep` passes, unless work arrived
    /// meanwhile. Counts parks and the kicks that woke it.
    fn park(&mut self, max_sleep: Duration) {
        self.flush_all();
        let ctl = &self.control;
        ctl.parked.store(true, Ordering::Relaxed);
        // Pairs with the fence in kick_if_parked (see there).
        fence(Ordering::SeqCst);
        let pending = self.backlog.as_ref().map_or(0, |r| r.count());
        if pending == 0 && !ctl.stop.load(Ordering::Acquire) && !ctl.stop_rx.load(Ordering::Acquire)
        {
            self.counters.parks.add(1);
            let kicks = ctl.wake.wait(max_sleep);
            self.counters.kicks.add(kicks);
        }
        ctl.parked.store(false, Ordering::Relaxed);
    }
}
