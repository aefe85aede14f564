//! A backlog worker: one lcore-pinned thread that polls its sources in
//! NAPI-like rounds and forwards what it gets.
//!
//! The worker owns its RX queues, one TX queue per port and one TX buffer
//! per port: nothing on its fast path is shared for writing with another
//! thread except its own counters (single writer) and, later, the backlog
//! rings (lock-free MP/SC). It never allocates, locks, logs or panics after
//! `run` starts.

mod forward;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::dpdk::{cycles, os, MbufBurst, RxQueue, TxQueue};
use crate::napi::{NapiBudget, RoundRobin, SourceKind};
use crate::plan::Plan;
use crate::stats::WorkerCounters;

/// Packets per rx_burst call and per TX buffer (l3fwd's MAX_PKT_BURST).
pub const BURST: usize = 32;

/// The control plane's handle on a worker.
#[derive(Debug, Default)]
pub struct WorkerControl {
    stop: AtomicBool,
}

impl WorkerControl {
    /// Asks the worker to stop: it stops polling RX, flushes its TX buffers
    /// and returns.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    #[inline(always)]
    fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

/// One RX queue a worker polls, with the index of its port.
#[derive(Debug)]
pub struct RxSource {
    /// Index of the port in the config (and in `Plan::ports`).
    pub port: usize,
    /// The queue.
    pub queue: RxQueue,
}

/// Everything a worker is built from.
#[derive(Debug)]
pub struct WorkerSetup {
    /// Worker index.
    pub id: usize,
    /// The lcore it runs on.
    pub lcore: u32,
    /// RX queues it polls.
    pub rx: Vec<RxSource>,
    /// Its TX queue on every port, by port index.
    pub tx: Vec<TxQueue>,
    /// The forwarding plan.
    pub plan: Arc<Plan>,
    /// NAPI weights and budgets.
    pub budget: NapiBudget,
    /// TX buffers older than this many TSC ticks are flushed.
    pub tx_drain_ticks: u64,
    /// Its counters (shared with readers).
    pub counters: Arc<WorkerCounters>,
    /// Its control flags.
    pub control: Arc<WorkerControl>,
}

/// The part of a worker the poll closure borrows mutably.
struct Io {
    rx: Vec<RxSource>,
    tx: Vec<TxQueue>,
    txbufs: Vec<MbufBurst<BURST>>,
    plan: Arc<Plan>,
    counters: Arc<WorkerCounters>,
    burst: MbufBurst<BURST>,
    drops: MbufBurst<BURST>,
}

/// Runs a worker until asked to stop. Returns 0 (the lcore exit status).
pub fn run(setup: WorkerSetup) -> i32 {
    os::set_thread_name(&format!("napifwd-w{}", setup.id));
    let kinds: Vec<SourceKind> = setup.rx.iter().map(|_| SourceKind::RxQueue).collect();
    let nports = setup.tx.len();
    let mut io = Io {
        rx: setup.rx,
        tx: setup.tx,
        txbufs: (0..nports).map(|_| MbufBurst::new()).collect(),
        plan: setup.plan,
        counters: setup.counters,
        burst: MbufBurst::new(),
        drops: MbufBurst::new(),
    };
    let budget = setup.budget;
    let mut rr = RoundRobin::default();
    let mut last_drain = cycles::rdtsc();
    let c = io.counters.clone();

    while !setup.control.stop_requested() {
        let t0 = cycles::rdtsc();
        let out = rr.run_round(&budget, &kinds, cycles::rdtsc, |i, quota| io.poll_rx(i, quota));
        let t1 = cycles::rdtsc();
        c.rounds.add(1);
        if out.packets > 0 {
            c.busy_cycles.add(t1.wrapping_sub(t0));
        } else {
            c.idle_cycles.add(t1.wrapping_sub(t0));
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
        if out.packets == 0 || t1.wrapping_sub(last_drain) >= setup.tx_drain_ticks {
            io.flush_all();
            last_drain = t1;
        }
    }
    io.flush_all();
    0
}

impl Io {
    /// Polls RX source `i` for up to `quota` packets, forwarding each burst
    /// as it arrives. Returns how many packets it took.
    #[inline(always)]
    fn poll_rx(&mut self, i: usize, quota: u32) -> u32 {
        let mut got = 0u32;
        while got < quota {
            let want = (quota - got).min(BURST as u32) as usize;
            let Some(src) = self.rx.get_mut(i) else { return got };
            let n = src.queue.rx_burst(&mut self.burst, want);
            if n == 0 {
                break;
            }
            let port = src.port;
            got += n as u32;
            self.counters.rx_packets.add(n as u64);
            self.forward_burst(port);
            if n < want {
                break;
            }
        }
        got
    }

    fn flush_all(&mut self) {
        for p in 0..self.txbufs.len() {
            if !self.txbufs[p].is_empty() {
                forward::flush(&mut self.tx, &mut self.txbufs, &self.counters, p);
            }
        }
    }
}
