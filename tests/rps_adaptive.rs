//! Adaptive RPS (`rps.adaptive`) end to end: two workers, worker 0
//! (lcore 1, CPU 0 with the main lcore) polls the only RX queue and decides
//! every 200 ms (up to 3.2 s while probes keep losing) whether to steer
//! (normal RPS over the map of both workers) or to forward everything
//! itself ("local"), after a 20 ms probe of the other mode; worker 1
//! (lcore 2, CPU 1) only serves its backlog.
//!
//! What must hold:
//! - per-flow order and exactly-once across mode changes: a finite pcap of
//!   tagged flows (payload `flow, seq`) is replayed for about two seconds,
//!   so the run spans several epochs and probes; flows the hash gives to
//!   worker 1 come out of worker 1's TX queue while worker 0 steers and of
//!   worker 0's TX queue while it forwards locally, which is also the
//!   evidence that the mode changed (and how often), read from the output
//!   itself. Every packet read comes out exactly once or is counted as a
//!   drop, each flow in order on each queue and across the two queues,
//!   the totals balance, no mbuf leaks. Three traffic shapes, each aimed at
//!   one rule of the switch: steer -> local must wait for worker 1's
//!   backlog and TX buffers (64 flows, short backlog often full), local ->
//!   steer must flush worker 0's TX buffers first (12 flows, part-full TX
//!   buffers that only the flush sends), and with
//!   `rps.local_fast_path = false` steer -> local must also wait for the
//!   backlog worker 0 feeds itself;
//! - with no per-packet work, adaptive forwards at least about as fast as
//!   plain RPS (a soft check: the machine is shared); with heavy
//!   per-packet work (two cores clearly beat one) it stays in steer mode
//!   most of the time.
//!
//! Mode changes need a completed drain (worker 1's backlog empty within
//! 2 ms), which a shared machine can prevent for a whole run: an order run
//! without a change in both directions is repeated (up to three runs);
//! every run is checked in full.
//!
//! Why the TX timestamps of the two queues' files can be compared: DPDK
//! 22.11's `net_pcap` stamps each frame inside `tx_burst`
//! (`eth_pcap_tx_dumper` -> `calculate_timestamp`) as the wall-clock time
//! taken once at probe plus `rte_get_timer_cycles() - start_cycles`
//! converted to nanoseconds: one formula, one set of start values, for
//! every queue of every port. The worker that calls `tx_burst` is pinned,
//! so each file is stamped from one CPU's TSC; the two files from two
//! CPUs' TSCs, which agree when the kernel found them synchronised (it
//! then keeps `tsc` as its clocksource, which the test checks before
//! comparing across files; with another clocksource only the per-queue
//! checks run). A switch that keeps order hands a flow from one queue to
//! the other only after the last packet on the old queue went through
//! `tx_burst` (flush before steering; backlog empty, two rounds and TX
//! buffers flushed before going local), and the new queue's first packet
//! is stamped after a ring hand-off or a new RX burst, i.e. microseconds
//! later, while stamps have nanosecond resolution: a correct switch gives
//! strictly increasing stamps along each flow across the two files, so a
//! later sequence number with an earlier (or equal) stamp is a reorder.
//! Within one file the order of the records is the order of `tx_burst`, so
//! the per-queue checks need no clock at all.

mod common;
mod live;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use serde_json::Value;

use common::{dpdk_lock, TempDir};
use live::*;

// ---------------------------------------------------------------------------
// configs

/// The knobs the tests turn.
#[derive(Debug, Clone, Copy)]
struct Knobs {
    adaptive: bool,
    /// `rps.balance`.
    balance: bool,
    local_fast_path: bool,
    per_packet_cycles: u64,
    max_backlog: u32,
    /// `napi.weight` and `napi.backlog_weight` (None: the defaults, 64/64).
    weights: Option<(u32, u32)>,
    /// `forward.tx_drain_us` (None: the default, 100).
    tx_drain_us: Option<u32>,
}

impl Knobs {
    fn adaptive(per_packet_cycles: u64) -> Knobs {
        Knobs {
            adaptive: true,
            balance: false,
            local_fast_path: true,
            per_packet_cycles,
            max_backlog: 1000,
            weights: None,
            tx_drain_us: None,
        }
    }

    /// `rps.balance` alone (no mode probes).
    fn balance(per_packet_cycles: u64) -> Knobs {
        Knobs {
            adaptive: false,
            balance: true,
            ..Knobs::adaptive(per_packet_cycles)
        }
    }
}

/// Two workers on the two CPUs, the source's only RX queue pinned to
/// worker 0 (lcore 1), RPS over both workers with the software hash,
/// everything routed to port "out".
fn config(ports: &str, k: &Knobs, metrics_port: u16) -> String {
    let mut t = eal_two_cpus(768);
    t += ports;
    t += &workers(&[1, 2], None);
    t += "\n[[workers.rx]]\nport = \"src\"\nqueue = 0\nlcore = 1\n";
    t += &format!(
        "\n[rps]\nenabled = true\nworkers = []\nhash = \"software\"\nadaptive = {}\n\
         balance = {}\nlocal_fast_path = {}\nmax_backlog = {}\n",
        k.adaptive, k.balance, k.local_fast_path, k.max_backlog
    );
    if let Some((weight, backlog_weight)) = k.weights {
        t += &format!("\n[napi]\nweight = {weight}\nbacklog_weight = {backlog_weight}\n");
    }
    t += "\n[forward]\nmode = \"l3\"\n";
    if let Some(us) = k.tx_drain_us {
        t += &format!("tx_drain_us = {us}\n");
    }
    t += &format!(
        "\n[[forward.routes]]\nprefix = \"{ROUTED_PREFIX}\"\nport = \"out\"\n\
         next_hop_mac = \"{NEXT_HOP}\"\n"
    );
    t += &bench(k.per_packet_cycles);
    t += &metrics(metrics_port);
    t
}

// ---------------------------------------------------------------------------
// running and watching

/// One look at worker 0's adaptive state through `/status`.
#[derive(Debug, Clone, Copy)]
struct ModeSample {
    local: bool,
    /// `rps_local_share`.
    share: f64,
}

/// What a run left: the final report and the mode samples.
struct Run {
    report: Value,
    samples: Vec<ModeSample>,
}

impl Run {
    /// Fraction of the samples (over the whole run) that saw worker 0 in
    /// local mode.
    fn local_fraction(&self) -> f64 {
        let n = self.samples.len().max(1);
        self.samples.iter().filter(|s| s.local).count() as f64 / n as f64
    }

    /// Mean sampled `rps_local_share` over the samples after the first
    /// `skip` fraction of them.
    fn mean_share(&self, skip: f64) -> f64 {
        let from = (self.samples.len() as f64 * skip) as usize;
        let tail = &self.samples[from.min(self.samples.len())..];
        tail.iter().map(|s| s.share).sum::<f64>() / tail.len().max(1) as f64
    }

    /// Changes of `rps_local_mode` between consecutive samples.
    fn sampled_mode_changes(&self) -> usize {
        self.samples
            .windows(2)
            .filter(|w| w[0].local != w[1].local)
            .count()
    }

    /// Packets transmitted per second of the instance's uptime.
    fn tx_rate(&self) -> f64 {
        let up = self.report["uptime_seconds"].as_f64().unwrap_or(0.0);
        u(&self.report, "/totals/tx_packets") as f64 / up.max(1e-9)
    }
}

/// Runs `config` until the instance's own clock (`/status`
/// `uptime_seconds`) passes `secs`, then stops it with SIGTERM (the
/// graceful stop drains backlogs and TX buffers); requires exit 0 and a
/// final report. The source is never exhausted before that for infinite
/// pcaps; a finite one may be, and the instance then idles until the stop.
fn run_for(dir: &TempDir, config: &str, port: u16, secs: f64) -> Run {
    let _g = dpdk_lock();
    let mut n = Instance::start(dir, config, port, &[]);
    n.wait_for("the /status endpoint and the workers", |v| {
        v["workers"].as_array().is_some_and(|w| w.len() == 2)
    });
    // Worker 0's mode every 2 ms (a 20 ms probe spans several samples).
    let sampler = Sampler::start_with(n.addr, Duration::from_millis(2), |st| ModeSample {
        local: st["workers"][0]["rps_local_mode"].as_bool() == Some(true),
        share: st["workers"][0]["rps_local_share"].as_f64().unwrap_or(-1.0),
    });
    n.wait_within(
        Duration::from_secs(60),
        &format!("uptime_seconds >= {secs}"),
        |v| v["uptime_seconds"].as_f64().is_some_and(|up| up >= secs),
    );
    n.signal("TERM");
    let samples = sampler.stop();
    let (output, stats) = n.finish(Duration::from_secs(60));
    let report = exited_ok(&output, stats);
    Run { report, samples }
}

/// `uname`-independent look at the kernel's clocksource: `tsc` means the
/// kernel checked that the CPUs' TSCs agree (see the module doc).
fn clocksource() -> String {
    std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// traffic

/// `on0` flows the hash gives to worker 0 and `on1` to worker 1 (the map is
/// both workers; `rps_target` is napifwd's own software symmetric hash and
/// `reciprocal_scale`). Returns the flows in a fixed order and each flow's
/// worker.
fn pick_flows(on0: usize, on1: usize) -> (Vec<Flow>, HashMap<u32, usize>) {
    let mut flows = Vec::new();
    let mut target = HashMap::new();
    let (mut n0, mut n1) = (0, 0);
    for id in 0u32.. {
        if n0 == on0 && n1 == on1 {
            break;
        }
        let f = flow(id, true);
        let t = rps_target(&frame(&f, 0, 8), 2);
        let take = match t {
            0 if n0 < on0 => {
                n0 += 1;
                true
            }
            1 if n1 < on1 => {
                n1 += 1;
                true
            }
            _ => false,
        };
        if take {
            target.insert(f.id, t);
            flows.push(f);
        }
    }
    (flows, target)
}

// ---------------------------------------------------------------------------
// test 1: order and exactly-once across mode changes

/// The finite replay of the main order test: 32 flows, 8 for worker 0 and
/// 24 for worker 1, 8000 packets each (256 000 frames, ~23 MB),
/// interleaved round-robin (a flow's packets are 32 frames apart). While
/// worker 0 steers, worker 1 gets three times what worker 0 forwards
/// itself: it is always behind (what its full backlog refuses drops as
/// `backlog_full`, counted), so when a drain starts it holds a full
/// backlog plus the burst it works on, up to `48 + 8` packets of ~25 us
/// each, which the 2 ms drain can wait for. Worker 0 receives and forwards
/// in rounds of 8 packets (`napi.weight`), so in local mode its first
/// packets leave ~200 us after the switch (TX drain timer at the end of its
/// first round), long before worker 1 could have worked off what it held,
/// and they include the next packets of those very flows. A drain that
/// does not wait therefore shows as a reorder: a variant of napifwd whose
/// drain returns at once failed this test in each of 6 runs (two of them
/// with a CPU hog on one of the two CPUs); with 64 or 192 flows and worker
/// 1 keeping up, it passed.
const ORDER_FLOWS: (usize, usize) = (8, 24);
const ORDER_PER_FLOW: u32 = 8000;
/// `rps.max_backlog` of the main order test.
const ORDER_MAX_BACKLOG: u32 = 48;
/// `napi.weight` and `napi.backlog_weight` of the main order test.
const ORDER_WEIGHTS: (u32, u32) = (8, 8);
/// Synthetic cost per packet of the main order test: makes the forwarding
/// slow enough that the pcap lasts the run, in a debug build as in a
/// release build (the synthetic cost dominates both).
const ORDER_CYCLES: u64 = 60_000;
/// Synthetic cost per packet of the other order tests and the heavy run.
const SLOW_CYCLES: u64 = 40_000;
/// How long the instance runs: eight 220 ms epoch+probe periods.
const ORDER_SECS: f64 = 1.8;

/// One frame as it came out.
#[derive(Debug, Clone, Copy)]
struct Out {
    queue: usize,
    /// Position in its queue's file.
    pos: usize,
    ts: Duration,
    seq: u32,
}

/// What the output showed about the mode changes.
#[derive(Debug, Default)]
struct Evidence {
    /// Frames of worker-1 flows on worker 0's queue (forwarded in local mode).
    local_frames: usize,
    /// Frames of worker-1 flows on worker 1's queue (steered).
    steered_frames: usize,
    /// Along the time-ordered frames of all worker-1 flows: queue 1 -> 0
    /// (steer -> local) and 0 -> 1 (local -> steer) changes.
    to_local: usize,
    to_steer: usize,
    /// Flows whose own frames moved between the queues, and how often;
    /// of those moves, how many went to queue 0 and to queue 1.
    flows_moved: usize,
    flow_moves: usize,
    to_q0: usize,
    to_q1: usize,
}

/// The tagged flows of the order tests, built once.
struct Traffic {
    flows: Vec<Flow>,
    /// Flow id -> the worker its hash names.
    target: HashMap<u32, usize>,
    input: Vec<Vec<u8>>,
}

impl Traffic {
    fn new(on0: usize, on1: usize, per_flow: u32) -> Traffic {
        let (flows, target) = pick_flows(on0, on1);
        let input = interleave(&flows, per_flow, 8);
        Traffic {
            flows,
            target,
            input,
        }
    }
}

/// Replays `traffic` with `k` for [`ORDER_SECS`] and checks exactly-once
/// and per-flow order; returns the run and the mode-change evidence.
fn order_run(name: &str, traffic: &Traffic, k: &Knobs) -> (Run, Evidence) {
    let dir = TempDir::new(name);
    let (flows, target) = (&traffic.flows, &traffic.target);
    let position: HashMap<u32, usize> = flows.iter().enumerate().map(|(i, f)| (f.id, i)).collect();
    let nflows = flows.len();
    let in_path = dir.join("in.pcap");
    common::pcapio::write_pcap(&in_path, &traffic.input);
    let empty = dir.join("empty.pcap");
    common::pcapio::write_pcap(&empty, &[]);
    let tx = [dir.join("out-q0.pcap"), dir.join("out-q1.pcap")];
    let port = free_port();
    let mut ports = pcap_source(0, "src", &in_path, false);
    ports += &pcap_output(1, "out", &empty, &tx);
    let run = run_for(&dir, &config(&ports, k, port), port, ORDER_SECS);
    let v = &run.report;
    let p = pretty(v);

    // Accounting: rx == tx + drops, nothing in flight, no leak; the only
    // drop a replay may see is a full backlog (worker 1 behind, or worker
    // 0's own backlog without the local fast path).
    assert_accounted(v);
    let rx = u(v, "/totals/rx_packets");
    let tx_total = u(v, "/totals/tx_packets");
    let drops = u(v, "/totals/dropped_packets");
    assert_eq!(
        drops,
        drop_total(v, "backlog_full"),
        "only backlog_full drops are expected\n{p}"
    );
    assert_eq!(
        wk(v, 0, "rx_packets"),
        rx,
        "worker 0 polls the only RX queue\n{p}"
    );
    assert_eq!(
        wk(v, 0, "rps_received") + wk(v, 1, "rps_received"),
        wk(v, 0, "rps_sent"),
        "everything steered (to worker 1, and to worker 0 itself without the local fast \
         path) was taken from a backlog\n{p}"
    );
    let total_in = traffic.input.len() as u64;
    assert!(rx <= total_in, "{p}");
    assert!(
        rx >= total_in / 10,
        "only {rx} of {total_in} frames read in {ORDER_SECS} s\n{p}"
    );

    // net_pcap reads its file in order: the frames read are exactly the
    // first `rx` of the pcap, frame (flow at position i, seq s) being the
    // (s * nflows + i)-th.
    let queues = [
        common::pcapio::read_pcap_ts(&tx[0]),
        common::pcapio::read_pcap_ts(&tx[1]),
    ];
    assert_eq!(
        (queues[0].len() + queues[1].len()) as u64,
        tx_total,
        "frames in the two tx_pcap files != totals.tx_packets\n{p}"
    );
    for (q, frames) in queues.iter().enumerate() {
        assert_eq!(
            frames.len() as u64,
            wk(v, q, "tx_packets"),
            "queue {q}'s file != workers[{q}].tx_packets\n{p}"
        );
        if let Some(i) = frames.windows(2).position(|w| w[1].0 < w[0].0) {
            panic!(
                "queue {q}: frame {} stamped {:?}, before frame {i} ({:?}): net_pcap's clock \
                 went backwards on one CPU",
                i + 1,
                frames[i + 1].0,
                frames[i].0
            );
        }
    }
    let mut by_flow: BTreeMap<u32, Vec<Out>> = BTreeMap::new();
    let mut seen: HashSet<(u32, u32)> = HashSet::new();
    for (queue, frames) in queues.iter().enumerate() {
        for (pos, (ts, fr)) in frames.iter().enumerate() {
            let (flow, seq) =
                tag(fr).unwrap_or_else(|| panic!("queue {queue} frame {pos} is not a test frame"));
            let i = *position
                .get(&flow)
                .unwrap_or_else(|| panic!("queue {queue} frame {pos}: unknown flow {flow}"));
            let index = u64::from(seq) * nflows as u64 + i as u64;
            assert!(
                index < rx,
                "queue {queue} frame {pos}: flow {flow} seq {seq} (input frame {index}) was \
                 never read (rx_packets {rx})"
            );
            assert!(
                seen.insert((flow, seq)),
                "queue {queue} frame {pos}: flow {flow} seq {seq} came out twice"
            );
            if target[&flow] == 0 && !k.balance {
                assert_eq!(
                    queue, 0,
                    "flow {flow} (hash: worker 0) came out of worker 1's queue (frame {pos}, \
                     seq {seq}): worker 0 forwards its own flows in both modes"
                );
            }
            by_flow.entry(flow).or_default().push(Out {
                queue,
                pos,
                ts: *ts,
                seq,
            });
        }
    }
    // Exactly once: `seen` holds distinct read frames, as many as were
    // transmitted; with rx == tx + drops (checked above) every frame read
    // either came out once or was counted as a drop.
    assert_eq!(seen.len() as u64, tx_total);
    assert_eq!(seen.len() as u64 + drops, rx);

    // Per flow, per queue: file order is TX order, sequences must rise.
    for (flow, outs) in &by_flow {
        for q in 0..2 {
            let mut last: Option<&Out> = None;
            for o in outs.iter().filter(|o| o.queue == q) {
                if let Some(l) = last {
                    assert!(
                        o.seq > l.seq,
                        "flow {flow} (hash: worker {}) out of order on queue {q}: seq {} (frame \
                         {}, t={:?}) after seq {} (frame {}, t={:?})",
                        target[flow],
                        o.seq,
                        o.pos,
                        o.ts,
                        l.seq,
                        l.pos,
                        l.ts
                    );
                }
                last = Some(o);
            }
        }
    }

    // Per flow across the queues, by TX stamp (see the module doc).
    let cross_queue = clocksource() == "tsc";
    let mut ev = Evidence::default();
    for (flow, outs) in by_flow.iter_mut() {
        outs.sort_by_key(|o| (o.ts, o.queue, o.pos));
        let mut moves = 0;
        for w in outs.windows(2) {
            if w[0].queue != w[1].queue {
                moves += 1;
                if w[1].queue == 0 {
                    ev.to_q0 += 1;
                } else {
                    ev.to_q1 += 1;
                }
            }
            if cross_queue {
                assert!(
                    w[0].queue == w[1].queue || (w[0].seq < w[1].seq && w[0].ts < w[1].ts),
                    "flow {flow} reordered across the TX queues: seq {} left on queue {} \
                     (frame {}) at {:?}, seq {} on queue {} (frame {}) at {:?}",
                    w[0].seq,
                    w[0].queue,
                    w[0].pos,
                    w[0].ts,
                    w[1].seq,
                    w[1].queue,
                    w[1].pos,
                    w[1].ts
                );
            }
        }
        if moves > 0 {
            ev.flows_moved += 1;
            ev.flow_moves += moves;
        }
    }

    // The mode changes, from the output: worker-1 flows on queue 0 were
    // forwarded in local mode, on queue 1 steered.
    let mut w1_frames: Vec<Out> = by_flow
        .iter()
        .filter(|(f, _)| target[*f] == 1)
        .flat_map(|(_, o)| o.iter().copied())
        .collect();
    w1_frames.sort_by_key(|o| (o.ts, o.queue, o.pos));
    ev.local_frames = w1_frames.iter().filter(|o| o.queue == 0).count();
    ev.steered_frames = w1_frames.len() - ev.local_frames;
    for w in w1_frames.windows(2) {
        match (w[0].queue, w[1].queue) {
            (1, 0) => ev.to_local += 1,
            (0, 1) => ev.to_steer += 1,
            _ => {}
        }
    }
    eprintln!(
        "{name}: {rx} of {total_in} frames read in {:.2} s ({:.0} pps out), drops {drops}; \
         worker-1 flows: {} frames steered, {} forwarded locally; changes seen in the output: \
         steer->local {}, local->steer {}; {} flows moved queues ({} moves, {} to queue 0, {} \
         to queue 1); workers[0].rps_local_share {} (mean sampled {:.3}), rps_share_changes {}; \
         workers[0].rps_mode_switches {}, sampled mode changes {} (local in {:.0}% of {} \
         samples); cross-queue stamp check: {}",
        v["uptime_seconds"].as_f64().unwrap_or(0.0),
        run.tx_rate(),
        ev.steered_frames,
        ev.local_frames,
        ev.to_local,
        ev.to_steer,
        ev.flows_moved,
        ev.flow_moves,
        ev.to_q0,
        ev.to_q1,
        v["workers"][0]["rps_local_share"],
        run.mean_share(0.0),
        wk(v, 0, "rps_share_changes"),
        wk(v, 0, "rps_mode_switches"),
        run.sampled_mode_changes(),
        100.0 * run.local_fraction(),
        run.samples.len(),
        if cross_queue {
            "on (clocksource tsc)".to_owned()
        } else {
            format!("off (clocksource {:?})", clocksource())
        }
    );
    (run, ev)
}

impl Evidence {
    /// The mode changed both ways during the run and flows crossed between
    /// the queues: without that the order checks proved nothing.
    fn switched(&self) -> bool {
        self.to_local >= 1 && self.to_steer >= 1 && self.flows_moved > 0
    }

    /// `rps.balance`: flows moved to worker 0 and to worker 1.
    fn moved_both_ways(&self) -> bool {
        self.to_q0 >= 1 && self.to_q1 >= 1
    }
}

/// Attempts of an order test: a switch to local mode needs worker 1's
/// backlog drained within 2 ms, which a shared machine that takes worker
/// 1's CPU away for a few milliseconds at the wrong time can prevent for a
/// whole run. Every attempt is checked in full (order, exactly-once,
/// accounting); only the lack of a mode change leads to another attempt.
const ORDER_ATTEMPTS: usize = 3;

fn order_test(name: &str, traffic: &Traffic, k: &Knobs) {
    let mut last = String::new();
    for attempt in 1..=ORDER_ATTEMPTS {
        let (run, ev) = order_run(&format!("{name}_{attempt}"), traffic, k);
        let v = &run.report;
        // Worker 1 has no RX queue: it is never adaptive.
        assert_eq!(wk(v, 1, "rps_mode_switches"), 0, "{}", pretty(v));
        assert!(!v["workers"][1]["rps_local_mode"].as_bool().unwrap_or(true));
        if (k.balance && ev.moved_both_ways()) || (!k.balance && ev.switched()) {
            return;
        }
        last = format!(
            "attempt {attempt}: no change in both directions seen in the output in {:.2} s \
             (steer->local {}, local->steer {}, flows moved {}, to queue 0 {}, to queue 1 {}; \
             rps_mode_switches {}, rps_share_changes {}, sampled mode changes {})\n{}",
            v["uptime_seconds"].as_f64().unwrap_or(0.0),
            ev.to_local,
            ev.to_steer,
            ev.flows_moved,
            ev.to_q0,
            ev.to_q1,
            wk(v, 0, "rps_mode_switches"),
            wk(v, 0, "rps_share_changes"),
            run.sampled_mode_changes(),
            summary(v)
        );
        eprintln!("{name}: {last}");
    }
    panic!(
        "{name}: no flows changed worker both ways (adaptive RPS never probed local mode, \
         rps.balance never moved a slot both ways, or the drain never completed) in \
         {ORDER_ATTEMPTS} runs of {ORDER_SECS} s; last: {last}"
    );
}

/// [`order_test`] with the main order traffic and knobs over `base`.
fn main_order_test(name: &str, base: Knobs) {
    let (on0, on1) = ORDER_FLOWS;
    let traffic = Traffic::new(on0, on1, ORDER_PER_FLOW);
    let k = Knobs {
        max_backlog: ORDER_MAX_BACKLOG,
        weights: Some(ORDER_WEIGHTS),
        ..base
    };
    order_test(name, &traffic, &k);
}

#[test]
fn per_flow_order_and_exactly_once_across_mode_switches() {
    main_order_test("adapt_order", Knobs::adaptive(ORDER_CYCLES));
}

/// The local -> steer rule, "flush TX first": 12 flows, 9 for worker 0
/// and 3 for worker 1, so a flow's next packet is 12 frames behind the
/// previous one; RX visits of 20 packets (`napi.weight`), so worker 0's TX
/// buffer (32) is usually part full when local mode ends; and
/// `forward.tx_drain_us = 5000`, so nothing but the flush the switch must
/// do (or a full buffer) sends what it holds. Worker 1, with a quarter of
/// the traffic, forwards a steered packet and goes idle (which flushes)
/// long before worker 0 has forwarded the 32 packets that would fill its
/// buffer: a switch without the flush lets worker 1's packets of a flow
/// leave before worker 0's older ones. (A variant of napifwd without that
/// flush failed this test in each of 5 runs.)
const FLUSH_FLOWS: (usize, usize) = (9, 3);
const FLUSH_PER_FLOW: u32 = 20_000;

#[test]
fn per_flow_order_when_local_mode_hands_flows_back_to_steering() {
    let (on0, on1) = FLUSH_FLOWS;
    let traffic = Traffic::new(on0, on1, FLUSH_PER_FLOW);
    let k = Knobs {
        weights: Some((20, 64)),
        tx_drain_us: Some(5000),
        ..Knobs::adaptive(SLOW_CYCLES)
    };
    order_test("adapt_order_flush", &traffic, &k);
}

/// `rps.balance` moves a slot (1/16) or half a slot (1/32) of the flows at
/// a time, both ways: towards worker 0 when that raised the throughput or
/// worker 1's backlog refused packets, towards worker 1 after a trial that
/// lost or while worker 1 idled, with the same rules as the mode switches (a
/// drain of worker 1 first when flows come back, a flush of worker 0's TX
/// buffers first when they go). Every trial is a step and, when it loses,
/// a step back, so flows move both ways whichever split wins; with the
/// main order traffic (worker 1 always behind, its short backlog often
/// full) the drains before steps back to worker 0 are tested hardest. 32
/// flows put about two in every slot (one in every half slot), so nearly
/// every step moves some. (Which way
/// the split moves is checked by `balance_moves_flows_towards_the_idle_worker`.)
#[test]
fn per_flow_order_and_exactly_once_across_share_changes() {
    main_order_test("balance_order", Knobs::balance(ORDER_CYCLES));
}

/// Both on: the mode probes (steer <-> local, at the balanced split) and
/// the climb's slot steps interleave; order and exactly-once must hold
/// across both kinds of move.
#[test]
fn per_flow_order_and_exactly_once_with_adaptive_and_balance() {
    main_order_test(
        "both_order",
        Knobs {
            balance: true,
            ..Knobs::adaptive(ORDER_CYCLES)
        },
    );
}

/// The split moves towards the worker that has nothing to do, both ways,
/// with heavy per-packet work (receiving costs next to nothing beside it)
/// from an endless source, so whichever worker has flows is saturated.
/// All flows in one worker's half of the hash space at the map's split
/// (8 of 16 slots each): the other only receives (worker 0) or idles
/// (worker 1), so the first slot moved across doubles the throughput, and
/// further steps change nothing (both saturated), which the climb does
/// not keep. Worker 0 must keep more than half of the flow space when all
/// flows start on worker 1, and less when they start on worker 0, on
/// average over the second half of the run (`/status` samples), and the
/// final gauge must be a whole number of half slots.
///
/// Why a run that ends on the wrong side is repeated (up to
/// [`BALANCE_ATTEMPTS`] runs; the other checks hold in every run): the
/// climb's first trial gives a slot away, and next to the map's split
/// that slot holds no flow here, so the throughput does not change; noise
/// (other tests' threads on the same 2 CPUs) once made that look 3 %
/// better, and the climb stayed on the plateau (a CI run: worker 0 kept 7
/// of 16 slots and forwarded nothing). A step must now win two periods in
/// a row (`balance.rs`), which makes that much rarer, not impossible.
#[test]
fn balance_moves_flows_towards_the_idle_worker() {
    for (on0, on1) in [(0, 64), (64, 0)] {
        let mut attempt = 1;
        while !balance_run_moves_towards_the_idle_worker(on0, on1, attempt) {
            attempt += 1;
        }
    }
}

/// Runs of [`balance_moves_flows_towards_the_idle_worker`] per direction.
const BALANCE_ATTEMPTS: usize = 3;

/// One run of [`balance_moves_flows_towards_the_idle_worker`]: false
/// when the split ended on the wrong side and another attempt is left.
fn balance_run_moves_towards_the_idle_worker(on0: usize, on1: usize, attempt: usize) -> bool {
    let (flows, _) = pick_flows(on0, on1);
    let name = format!("balance_{on0}_{on1}_{attempt}");
    // A short backlog: a step back to worker 0 waits for worker 1's
    // backlog to drain, 40 000 cycles a packet.
    let k = Knobs {
        max_backlog: 128,
        ..Knobs::balance(SLOW_CYCLES)
    };
    let (run, _) = rate_run(&name, &flows, &k);
    let v = &run.report;
    let mean = run.mean_share(0.5);
    let last = v["workers"][0]["rps_local_share"].as_f64().unwrap_or(-1.0);
    eprintln!(
        "{}; rps_local_share mean {mean:.3} over the second half, final {last}, \
         rps_share_changes {}",
        describe(&name, &run),
        wk(v, 0, "rps_share_changes")
    );
    assert!(wk(v, 0, "rps_share_changes") > 0, "{}", pretty(v));
    assert_eq!(
        wk(v, 0, "rps_mode_switches"),
        0,
        "balance alone never probes modes"
    );
    assert!(
        (last * 32.0 - (last * 32.0).round()).abs() < 1e-9 && (0.0..=1.0).contains(&last),
        "rps_local_share {last} is not a whole number of thirty-seconds"
    );
    assert_eq!(v["workers"][1]["rps_local_share"].as_f64(), Some(0.0));
    let (moved, wrong) = if on1 > 0 {
        (
            mean > 0.53,
            format!("all flows started on worker 1, yet worker 0 kept {mean:.3}"),
        )
    } else {
        (
            mean < 0.47,
            format!("all flows started on worker 0, yet it kept {mean:.3}"),
        )
    };
    if !moved && attempt < BALANCE_ATTEMPTS {
        eprintln!("{name}: {wrong}; running again");
        return false;
    }
    assert!(moved, "{wrong} (in each of {BALANCE_ATTEMPTS} runs)");
    true
}

/// Flows (by hash: worker 0, worker 1) of the runs where worker 1 must
/// keep up easily: a quarter of the traffic for it, so its backlog stays
/// short and the drain before a local probe completes.
const SLACK_FLOWS: (usize, usize) = (48, 16);
/// Packets per flow of the `local_fast_path = false` replay (256 000 frames).
const NOFP_PER_FLOW: u32 = 4000;

/// `rps.local_fast_path = false`: worker 0 enqueues its own flows to its
/// own backlog as well, and serves that backlog with a smaller weight than
/// RX (`napi.backlog_weight` 16 against `napi.weight` 32, while three
/// quarters of what RX brings are its own), so its backlog is long when a
/// local probe starts. The module doc promises the switch waits until
/// "every backlog this worker feeds is empty": packets of worker 0's flows
/// still queued there must leave before the same flows' next packets,
/// which local mode forwards straight from RX. (What the long backlog
/// refuses drops as `backlog_full`, counted.)
///
/// napifwd 2f98719 fails this: `peers_drained` (src/worker/adapt.rs) skips
/// the worker's own backlog (`t == self.id`), so local mode starts while
/// hundreds of its own flows' packets still wait there, and they leave
/// after newer packets of the same flows on worker 0's own TX queue.
#[test]
fn per_flow_order_across_mode_switches_without_local_fast_path() {
    let (on0, on1) = SLACK_FLOWS;
    let traffic = Traffic::new(on0, on1, NOFP_PER_FLOW);
    let k = Knobs {
        local_fast_path: false,
        weights: Some((32, 16)),
        ..Knobs::adaptive(SLOW_CYCLES)
    };
    order_test("adapt_order_nofp", &traffic, &k);
}

// ---------------------------------------------------------------------------
// test 2: throughput

/// Flows of the endless source of the throughput runs.
const RATE_FLOWS: u32 = 1024;
/// Seconds per throughput run.
const RATE_SECS: f64 = 1.5;

/// An endless source replaying one frame of each of `flows` in a loop into
/// a `net_null` sink, with `k`; returns the run and the pcap's frames.
fn rate_run(name: &str, flows: &[Flow], k: &Knobs) -> (Run, Vec<Vec<u8>>) {
    let dir = TempDir::new(name);
    let input = interleave(flows, 1, 8);
    let in_path = dir.join("in.pcap");
    common::pcapio::write_pcap(&in_path, &input);
    let port = free_port();
    let mut ports = pcap_source(0, "src", &in_path, true);
    ports += &null_sink(1, "out");
    let run = run_for(&dir, &config(&ports, k, port), port, RATE_SECS);
    assert_accounted(&run.report);
    (run, input)
}

fn describe(name: &str, run: &Run) -> String {
    let v = &run.report;
    format!(
        "{name}: {:.3} Mpps over {:.2} s (tx {}, drops {}), processed w0 {} w1 {}, \
         rps_mode_switches {}, local in {:.0}% of {} samples",
        run.tx_rate() / 1e6,
        v["uptime_seconds"].as_f64().unwrap_or(0.0),
        u(v, "/totals/tx_packets"),
        u(v, "/totals/dropped_packets"),
        wk(v, 0, "processed"),
        wk(v, 1, "processed"),
        wk(v, 0, "rps_mode_switches"),
        100.0 * run.local_fraction(),
        run.samples.len()
    )
}

/// Without per-packet work, handing a packet over to worker 1 costs about
/// as much as forwarding it (in the measurements of this test, local mode
/// forwarded more than steering, in debug and release builds alike):
/// adaptive must end up forwarding at least about as fast as plain RPS in
/// the same test. Soft, because the machine is shared: plain and adaptive
/// run alternately twice each, each side is judged by its better run (a
/// neighbour can only take throughput away), and the margin is wide
/// (adaptive >= 0.7 x plain).
#[test]
fn adaptive_forwards_about_as_fast_as_plain_rps_without_per_packet_work() {
    let plain = Knobs {
        adaptive: false,
        ..Knobs::adaptive(0)
    };
    let adaptive = Knobs::adaptive(0);
    let flows: Vec<Flow> = (0..RATE_FLOWS).map(|i| flow(i, true)).collect();
    let mut plains = Vec::new();
    let mut adaptives = Vec::new();
    for round in 0..2 {
        let (p, _) = rate_run(&format!("adapt_rate_plain_{round}"), &flows, &plain);
        eprintln!("{}", describe(&format!("plain RPS, run {round}"), &p));
        assert_eq!(
            wk(&p.report, 0, "rps_mode_switches"),
            0,
            "plain RPS never switches"
        );
        assert!(
            p.samples.iter().all(|s| !s.local),
            "plain RPS reported local mode"
        );
        plains.push(p);
        let (a, _) = rate_run(&format!("adapt_rate_adaptive_{round}"), &flows, &adaptive);
        eprintln!("{}", describe(&format!("adaptive RPS, run {round}"), &a));
        adaptives.push(a);
    }
    let best = |runs: &[Run]| {
        runs.iter()
            .max_by(|x, y| x.tx_rate().total_cmp(&y.tx_rate()))
            .map(|r| (r.tx_rate(), describe("best", r)))
            .expect("two runs")
    };
    let ((rp, dp), (ra, da)) = (best(&plains), best(&adaptives));
    eprintln!(
        "no per-packet work: best plain {:.3} Mpps, best adaptive {:.3} Mpps, adaptive / plain \
         = {:.2}",
        rp / 1e6,
        ra / 1e6,
        ra / rp.max(1.0)
    );
    assert!(
        ra >= 0.7 * rp,
        "adaptive RPS forwarded {:.3} Mpps at best, plain RPS {:.3} Mpps (ratio {:.2} < 0.7)\n\
         plain {dp}\nadaptive {da}",
        ra / 1e6,
        rp / 1e6,
        ra / rp.max(1.0)
    );
}

/// Synthetic cost per packet of the heavy run: far above what steering a
/// packet costs (even in a debug build, where forwarding one costs a few
/// thousand cycles without it; at 2000 cycles local mode still forwarded
/// more than steering in a debug build, while a release build kept
/// steering), so worker 0 plus worker 1 forward clearly more than worker 0
/// alone and every probe of local mode should lose.
const HEAVY_CYCLES: u64 = SLOW_CYCLES;

/// With heavy per-packet work, adaptive must stay in steer mode most of the
/// time. A quarter of the flows are worker 1's ([`SLACK_FLOWS`]), so
/// worker 1 keeps up and the drain before a local probe can complete:
/// local mode is tried, and must lose. Measured exactly from the counters:
/// the source replays its pcap in order, so how many of the frames read
/// belong to worker-1 flows is known; of those, worker 0 steered
/// `rps_sent + backlog_full` (its only drops), and forwarded the rest itself
/// in local mode. Also reported: the sampled `rps_local_mode`.
#[test]
fn heavy_per_packet_work_keeps_adaptive_steering() {
    let (flows, target) = pick_flows(SLACK_FLOWS.0, SLACK_FLOWS.1);
    let (run, input) = rate_run("adapt_heavy", &flows, &Knobs::adaptive(HEAVY_CYCLES));
    let v = &run.report;
    let p = pretty(v);
    let is_w1 = |f: &Vec<u8>| target[&tag(f).expect("tagged").0] == 1;
    let rx = wk(v, 0, "rx_packets");
    let len = input.len() as u64;
    let w1_per_pass = input.iter().filter(|f| is_w1(f)).count() as u64;
    let w1_rx = rx / len * w1_per_pass
        + input[..(rx % len) as usize]
            .iter()
            .filter(|f| is_w1(f))
            .count() as u64;
    let steered = wk(v, 0, "rps_sent") + wdrop(v, 0, "backlog_full");
    assert_eq!(
        u(v, "/workers/0/dropped_packets"),
        wdrop(v, 0, "backlog_full"),
        "worker 0 drops only what a full backlog refuses\n{p}"
    );
    assert!(
        steered <= w1_rx,
        "worker 0 steered {steered} packets, but only {w1_rx} of the {rx} it read belong to \
         worker 1's flows\n{p}"
    );
    let local = w1_rx - steered;
    let steer_share = steered as f64 / w1_rx.max(1) as f64;
    let sampled_local = run.local_fraction();
    eprintln!("{}", describe("adaptive, heavy", &run));
    eprintln!(
        "adaptive, heavy: of {w1_rx} packets of worker-1 flows, worker 0 steered {steered} \
         ({:.1}%) and forwarded {local} itself in local mode; local mode in {:.0}% of the \
         samples, {} sampled mode changes",
        100.0 * steer_share,
        100.0 * sampled_local,
        run.sampled_mode_changes()
    );
    if local == 0 {
        eprintln!(
            "adaptive, heavy: NOTE: no local probe in this run (every drain timed out), so the \
             run does not show that local mode was measured and lost"
        );
    }
    assert!(
        run.samples.len() >= 50,
        "too few /status samples ({}) to judge the mode",
        run.samples.len()
    );
    assert!(
        sampled_local <= 0.5,
        "with {HEAVY_CYCLES} cycles per packet worker 0 was in local mode in {:.0}% of the \
         samples\n{}",
        100.0 * sampled_local,
        describe("adaptive, heavy", &run)
    );
    assert!(
        steer_share >= 0.7,
        "with {HEAVY_CYCLES} cycles per packet worker 0 steered only {steered} of the {w1_rx} \
         packets of worker-1 flows ({:.1}%)\n{}",
        100.0 * steer_share,
        describe("adaptive, heavy", &run)
    );
}
