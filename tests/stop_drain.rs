//! SIGTERM in the middle of a flood: the graceful stop (RX off everywhere,
//! backlogs drained for at most `workers.drain_timeout_ms`, TX flushed,
//! defer rings flushed) must exit 0 with every packet accounted for, nothing
//! in flight and every mbuf back in its pool.
//!
//! Two workers on the two CPUs: worker 0 (lcore 1) polls an endless
//! `net_pcap` source (`infinite_rx`) and steers everything to worker 1
//! (lcore 2, `rps.workers = [2]`), which `[bench] per_packet_cycles` slows
//! down, so its backlog is full when the signal lands (the test waits for
//! that on `/status`). Worker 1 forwards to a `net_null` sink and, in the
//! mixed traffic, drops three flows in four as `no_route`: mbufs owned by
//! worker 0's pool, which in `owner` mode go back through worker 0's defer
//! ring, also while worker 1 drains its backlog at the stop.
//!
//! With a drain deadline of 1 ms and a very slow consumer the backlog cannot
//! be drained: what is left drops as `shutdown`, and the totals still
//! balance.

mod common;
mod live;

use std::time::{Duration, Instant};

use common::{dpdk_lock, TempDir};
use live::*;

/// Flows of the endless source (one frame each per pass over the pcap).
const FLOWS: u32 = 1024;

struct Flood {
    /// `free.mode`.
    mode: &'static str,
    /// Every flow routed (no drop on worker 1 at all), or one in four.
    all_routed: bool,
    /// `[bench] per_packet_cycles`: worker 1's cost per packet.
    cycles: u64,
    /// `workers.drain_timeout_ms` (None: the default, 3000).
    drain_timeout_ms: Option<u64>,
}

/// Runs the flood, waits until worker 1's backlog is full, sends SIGTERM;
/// returns the final report (after the checks every stop must pass), the
/// last live report before the signal, and how long the stop took.
fn sigterm_mid_flood(name: &str, f: &Flood) -> (serde_json::Value, serde_json::Value, Duration) {
    let dir = TempDir::new(name);
    let flows: Vec<Flow> = (0..FLOWS)
        .map(|i| flow(i, f.all_routed || i % 4 == 0))
        .collect();
    let in_path = dir.join("in.pcap");
    common::pcapio::write_pcap(&in_path, &interleave(&flows, 1, 8));
    let port = free_port();
    let mut t = eal_two_cpus(512);
    t += &pcap_source(0, "src", &in_path, true);
    t += &null_sink(1, "sink");
    t += &workers(&[1, 2], f.drain_timeout_ms);
    t += &rps(&[2], 1000);
    t += &l3_route("sink", NEXT_HOP);
    t += &free(f.mode, 128, 1000);
    t += &bench(f.cycles);
    t += &metrics(port);

    let _g = dpdk_lock();
    let mut n = Instance::start(&dir, &t, port, &[]);
    // The backlog is full (worker 0 has had to drop backlog_full) and still
    // more than half full at worker 1's last visit; worker 1 has dropped
    // some of worker 0's mbufs already in the mixed traffic.
    let live = n.wait_for("worker 1's backlog to be full", |v| {
        wdrop(v, 0, "backlog_full") > 0
            && wk(v, 1, "backlog_len") >= 500
            && (f.all_routed || wdrop(v, 1, "no_route") > 0)
    });
    let t0 = Instant::now();
    n.signal("TERM");
    let (out, stats) = n.finish(Duration::from_secs(60));
    let took = t0.elapsed();
    let v = exited_ok(&out, stats);
    assert_accounted(&v);
    assert!(
        out.stderr.contains("Terminate: stopping"),
        "napifwd says why it stops\n{}",
        out.describe()
    );
    (v, live, took)
}

/// What every stop with enough drain time must show: worker 1 processed
/// everything that was steered to it (its backlog drained, no `shutdown`
/// drop), quickly.
fn assert_drained(v: &serde_json::Value, took: Duration) {
    let p = pretty(v);
    assert_eq!(drop_total(v, "shutdown"), 0, "the drain had 3 s\n{p}");
    assert_eq!(
        wk(v, 1, "rps_received"),
        wk(v, 0, "rps_sent"),
        "everything steered to worker 1 was taken from its backlog\n{p}"
    );
    assert_eq!(wk(v, 1, "processed"), wk(v, 1, "rps_received"), "{p}");
    assert!(
        took < Duration::from_secs(10),
        "a 1000-packet backlog at 20000 cycles per packet drains in ~10 ms; the stop took {took:?}"
    );
}

/// Owner mode, drops on worker 1 of mbufs worker 0 owns, also during the
/// drain. Worker 0 has nothing to drain and would stop first: mbufs worker 1
/// hands to worker 0's defer ring after that must still be freed (this
/// leaked, exit 1, before stop phase 3: commit 03d0fde).
#[test]
fn sigterm_mid_flood_owner_mode_with_drops_away_from_the_owner() {
    let (v, _, took) = sigterm_mid_flood(
        "stop_owner_mix",
        &Flood {
            mode: "owner",
            all_routed: false,
            cycles: 20_000,
            drain_timeout_ms: None,
        },
    );
    assert_drained(&v, took);
    assert!(wk(&v, 1, "deferred_sent") > 0, "{}", pretty(&v));
}

#[test]
fn sigterm_mid_flood_batch_mode_with_drops_away_from_the_owner() {
    let (v, _, took) = sigterm_mid_flood(
        "stop_batch_mix",
        &Flood {
            mode: "batch",
            all_routed: false,
            cycles: 20_000,
            drain_timeout_ms: None,
        },
    );
    assert_drained(&v, took);
}

#[test]
fn sigterm_mid_flood_immediate_mode_with_drops_away_from_the_owner() {
    let (v, _, took) = sigterm_mid_flood(
        "stop_immediate_mix",
        &Flood {
            mode: "immediate",
            all_routed: false,
            cycles: 20_000,
            drain_timeout_ms: None,
        },
    );
    assert_drained(&v, took);
}

/// Owner mode with every packet routed: worker 1 drops nothing, so nothing
/// is deferred during the drain.
#[test]
fn sigterm_mid_flood_owner_mode_all_routed() {
    let (v, _, took) = sigterm_mid_flood(
        "stop_owner_routed",
        &Flood {
            mode: "owner",
            all_routed: true,
            cycles: 20_000,
            drain_timeout_ms: None,
        },
    );
    assert_drained(&v, took);
}

/// A 1 ms drain deadline and a consumer at ~0.4 ms per packet: worker 1
/// forwards at most a burst or two of its full backlog, the rest drops as
/// `shutdown`, and the stop is quick.
#[test]
fn tiny_drain_timeout_drops_the_rest_as_shutdown() {
    let (v, live, took) = sigterm_mid_flood(
        "stop_tiny_drain",
        &Flood {
            mode: "owner",
            all_routed: true,
            cycles: 1_000_000,
            drain_timeout_ms: Some(1),
        },
    );
    let p = pretty(&v);
    let shutdown = drop_total(&v, "shutdown");
    assert!(
        shutdown >= 100,
        "a backlog of ~{} packets at ~0.4 ms each cannot drain in 1 ms: \
         expected most of it dropped as shutdown, got {shutdown}\n{p}",
        wk(&live, 1, "backlog_len")
    );
    assert_eq!(
        wdrop(&v, 1, "shutdown"),
        shutdown,
        "the backlog's owner counts them\n{p}"
    );
    assert_eq!(
        wk(&v, 1, "rps_received") + shutdown,
        wk(&v, 0, "rps_sent"),
        "everything steered to worker 1 was processed or dropped as shutdown\n{p}"
    );
    assert!(
        took < Duration::from_secs(3),
        "a 1 ms drain deadline, yet the stop took {took:?}"
    );
}
