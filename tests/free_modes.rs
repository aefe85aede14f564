//! `[free] mode` under a flow mix where most packets are dropped on a
//! worker that does not own their mbufs.
//!
//! Two workers on the two CPUs (`eal.lcores = "0@0,1@0,2@1"`): worker 0
//! (lcore 1) polls the only RX queue, so its mempool owns every mbuf;
//! `rps.workers = [2]` steers everything to worker 1 (lcore 2), which
//! forwards the routed quarter of the flows and drops the rest as
//! `no_route`. In `owner` mode worker 1 must hand those mbufs back through
//! worker 0's defer ring and worker 0 must free them (`deferred_sent` on
//! worker 1 == `deferred_freed` on worker 0, the rest `defer_overflow`); in
//! `immediate` and `batch` nothing is deferred. Every mode: counters
//! balance, every mempool is back to its baseline, and what came out is the
//! routed input, rewritten, in order.
//!
//! A live test then floods worker 1 with drops while worker 0 is never idle,
//! with `defer_max` far above what piles up between flushes: worker 0's
//! defer ring must be flushed by age (`max_age_us`), and a SIGHUP that
//! switches `free.mode` away from `owner` must stop the deferral at once and
//! leave nothing stuck in the ring.

mod common;
mod live;

use std::collections::HashMap;
use std::time::Duration;

use common::packet::ipv4_header_checksum_ok;
use common::{dpdk_lock, TempDir};
use live::*;

/// Flows of the mix and packets per flow.
const FLOWS: u32 = 256;
const PER_FLOW: u32 = 16;
/// `rps.max_backlog`: nearly the whole input fits in worker 1's backlog,
/// so however the two workers are scheduled, (almost) nothing drops
/// `backlog_full` and every packet reaches worker 1.
const MAX_BACKLOG: u32 = 4000;

/// The mix: every fourth flow routed, the rest not.
fn mix() -> (Vec<Flow>, Vec<Vec<u8>>) {
    let flows: Vec<Flow> = (0..FLOWS).map(|i| flow(i, i % 4 == 0)).collect();
    let input = interleave(&flows, PER_FLOW, 8);
    (flows, input)
}

fn config(dir: &TempDir, input: &std::path::Path, mode: &str, extra: &str) -> String {
    let empty = dir.join("empty.pcap");
    common::pcapio::write_pcap(&empty, &[]);
    let tx = [dir.join("out-q0.pcap"), dir.join("out-q1.pcap")];
    let mut t = eal_two_cpus(1024);
    t += &pcap_source(0, "src", input, false);
    t += &pcap_output(1, "out", &empty, &tx);
    t += &workers(&[1, 2], None);
    t += &rps(&[2], MAX_BACKLOG);
    t += &l3_route("out", NEXT_HOP);
    t += &free(mode, 128, 1000);
    t += "\n[metrics]\nlisten = \"\"\n";
    t += extra;
    t
}

/// The live tests' config: the mix replayed forever into a null sink,
/// everything steered from worker 0 to worker 1 (lcore 2), the given
/// `[free]` section, `cost` synthetic cycles per packet, metrics on `port`.
fn live_config(input: &std::path::Path, port: u16, free_section: &str, cost: u64) -> String {
    let mut t = eal_two_cpus(1024);
    t += &pcap_source(0, "src", input, true);
    t += &null_sink(1, "sink");
    t += &workers(&[1, 2], None);
    t += &rps(&[2], 1000);
    t += &l3_route("sink", NEXT_HOP);
    t += free_section;
    t += &bench(cost);
    t += &metrics(port);
    t
}

/// Replays the mix with `free.mode = mode` and checks everything but the
/// mode-specific counters, which it returns in the report.
fn replay_mix(mode: &str) -> serde_json::Value {
    let dir = TempDir::new(&format!("free_{mode}"));
    let (flows, input) = mix();
    let in_path = dir.join("in.pcap");
    common::pcapio::write_pcap(&in_path, &input);
    let cfg = config(&dir, &in_path, mode, "");
    let cfg_path = dir.join("napifwd.toml");
    std::fs::write(&cfg_path, &cfg).expect("write config");
    let stats_path = dir.join("stats.json");
    let out = {
        let _g = dpdk_lock();
        common::napifwd(
            [
                "run".as_ref(),
                "--config".as_ref(),
                cfg_path.as_os_str(),
                "--stats-json".as_ref(),
                stats_path.as_os_str(),
                "--until-idle".as_ref(),
                "300".as_ref(),
            ],
            dir.path(),
            common::RUN_TIMEOUT,
        )
    };
    let stats = std::fs::read_to_string(&stats_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let v = exited_ok(&out, stats);
    let p = pretty(&v);
    assert_accounted(&v);

    let n = input.len() as u64;
    let routed_in = input
        .iter()
        .filter(|f| flows[tag(f).expect("tagged").0 as usize].routed)
        .count() as u64;
    assert_eq!(u(&v, "/totals/rx_packets"), n, "{p}");
    // Worker 0 only receives and steers; worker 1 forwards or drops.
    assert_eq!(wk(&v, 0, "rx_packets"), n, "{p}");
    assert_eq!(wk(&v, 1, "rx_packets"), 0, "{p}");
    assert_eq!(
        wk(&v, 0, "processed"),
        0,
        "worker 0 is not in the rps map\n{p}"
    );
    let steered = wk(&v, 0, "rps_sent");
    let full = wdrop(&v, 0, "backlog_full");
    assert_eq!(steered + full, n, "worker 0: rps_sent + backlog_full\n{p}");
    assert_eq!(
        u(&v, "/workers/0/dropped_packets"),
        full,
        "worker 0 drops only what the backlog refuses\n{p}"
    );
    assert_eq!(wk(&v, 1, "rps_received"), steered, "{p}");
    assert_eq!(wk(&v, 1, "processed"), steered, "{p}");
    let no_route = wdrop(&v, 1, "no_route");
    assert_eq!(
        wk(&v, 1, "tx_packets") + no_route,
        steered,
        "worker 1: tx + no_route == what it processed\n{p}"
    );
    assert_eq!(
        u(&v, "/workers/1/dropped_packets"),
        no_route,
        "worker 1 drops only no_route\n{p}"
    );
    assert!(
        no_route >= n / 4,
        "the mix must make worker 1 drop many packets (no_route {no_route} of {n})\n{p}"
    );

    // What came out: on worker 1's TX queue only, routed frames only,
    // rewritten, each once, in input order (one RX queue, one backlog).
    let q0 = common::pcapio::read_pcap_ts(&dir.join("out-q0.pcap"));
    let q1 = common::pcapio::read_pcap_ts(&dir.join("out-q1.pcap"));
    assert!(q0.is_empty(), "worker 0 transmitted {} frames", q0.len());
    assert_eq!(q1.len() as u64, wk(&v, 1, "tx_packets"), "{p}");
    let index: HashMap<(u32, u32), usize> = input
        .iter()
        .enumerate()
        .map(|(i, f)| (tag(f).expect("tagged"), i))
        .collect();
    let mut last = None;
    for (k, (_, f)) in q1.iter().enumerate() {
        let t = tag(f).unwrap_or_else(|| panic!("output frame {k} is not a test frame"));
        assert!(flows[t.0 as usize].routed, "frame {k} {t:?} has no route");
        assert_eq!(
            mac_string(&dst_mac(f)),
            NEXT_HOP,
            "frame {k}: destination MAC"
        );
        assert_eq!(mac_string(&f[6..12].try_into().expect("mac")), OUT_MAC);
        assert_eq!(f[22], 63, "frame {k}: TTL decremented");
        assert!(
            ipv4_header_checksum_ok(&f[14..34]),
            "frame {k}: IPv4 checksum"
        );
        let i = index[&t];
        assert!(
            last.is_none_or(|l| l < i),
            "frame {k} {t:?} (input {i}) came out after input {last:?}"
        );
        last = Some(i);
    }
    if full == 0 {
        assert_eq!(q1.len() as u64, routed_in, "every routed frame came out");
        assert_eq!(no_route, n - routed_in, "every unrouted frame dropped");
    }
    v
}

#[test]
fn owner_mode_returns_foreign_mbufs_to_their_owner() {
    let v = replay_mix("owner");
    let p = pretty(&v);
    let no_route = wdrop(&v, 1, "no_route");
    let sent = wk(&v, 1, "deferred_sent");
    let overflow = wk(&v, 1, "defer_overflow");
    // Every mbuf worker 1 dropped belongs to worker 0's pool.
    assert_eq!(
        sent + overflow,
        no_route,
        "worker 1: deferred_sent + defer_overflow == its drops (all foreign)\n{p}"
    );
    assert_eq!(
        wk(&v, 0, "deferred_freed"),
        sent,
        "worker 0 freed exactly what worker 1 handed back\n{p}"
    );
    assert!(
        sent >= no_route / 2,
        "most foreign drops go back to the owner (sent {sent}, overflow {overflow})\n{p}"
    );
    // Worker 0 drops only its own mbufs: freed locally, nothing deferred;
    // nothing is deferred to worker 1, which owns nothing in flight.
    assert_eq!(wk(&v, 0, "deferred_sent"), 0, "{p}");
    assert_eq!(wk(&v, 0, "defer_overflow"), 0, "{p}");
    assert_eq!(wk(&v, 1, "deferred_freed"), 0, "{p}");
    assert_eq!(wk(&v, 1, "defer_flushes"), 0, "{p}");
    let flushes = wk(&v, 0, "defer_flushes");
    assert!(
        flushes >= 1 && flushes <= sent,
        "worker 0 flushed its defer ring in bulk ({flushes} flushes for {sent} mbufs)\n{p}"
    );
}

fn assert_nothing_deferred(mode: &str) {
    let v = replay_mix(mode);
    let p = pretty(&v);
    for w in 0..2 {
        for key in [
            "deferred_sent",
            "deferred_freed",
            "defer_overflow",
            "defer_flushes",
            "defer_pending",
        ] {
            assert_eq!(wk(&v, w, key), 0, "{mode}: workers[{w}].{key}\n{p}");
        }
    }
}

#[test]
fn immediate_mode_frees_where_dropped() {
    assert_nothing_deferred("immediate");
}

#[test]
fn batch_mode_frees_where_dropped() {
    assert_nothing_deferred("batch");
}

/// Worker 0 never idle (an endless source), worker 1 dropping most of what
/// it gets (slowed to about 250k packets/s), `defer_max` 4096 (a ring of
/// 65536): worker 0's flushes must come from `max_age_us`, a few hundred
/// mbufs at a time, far below `defer_max`. Then a reload
/// to `immediate` stops deferral, the ring drains to empty, a reload back to
/// `owner` resumes it, and the stop is clean.
#[test]
fn owner_ring_flushes_by_age_and_free_mode_switches_live() {
    const DEFER_MAX: u64 = 4096;
    let dir = TempDir::new("free_age_live");
    let (_, input) = mix();
    let in_path = dir.join("in.pcap");
    common::pcapio::write_pcap(&in_path, &input);
    let port = free_port();
    let body =
        |mode: &str| live_config(&in_path, port, &free(mode, DEFER_MAX as u32, 1000), 10_000);
    let _g = dpdk_lock();
    let mut n = Instance::start(&dir, &body("owner"), port, &[]);

    // Flushed by age: many flushes, each far below defer_max.
    let v = n.wait_for("worker 0 to free 100000 deferred mbufs", |v| {
        wk(v, 0, "deferred_freed") >= 100_000
    });
    let (freed, flushes) = (wk(&v, 0, "deferred_freed"), wk(&v, 0, "defer_flushes"));
    assert!(
        flushes > 0 && freed / flushes < DEFER_MAX / 4,
        "worker 0 is never idle, so its flushes must come from max_age_us, not defer_max \
         ({DEFER_MAX}): {freed} mbufs in {flushes} flushes\n{}",
        pretty(&v)
    );
    assert_eq!(
        wk(&v, 1, "defer_overflow"),
        0,
        "a ring of 65536 flushed every millisecond never overflows\n{}",
        pretty(&v)
    );

    // Live switch to immediate: deferral stops, the ring empties.
    n.rewrite_config(&body("immediate"));
    n.signal("HUP");
    let v = n.wait_for("the reload to immediate", |v| {
        cfg(v, "reloads_applied") == 1 || cfg(v, "reloads_rejected") > 0
    });
    assert_eq!(cfg(&v, "reloads_rejected"), 0, "{}", pretty(&v));
    let sent = wk(&v, 1, "deferred_sent");
    let drops = wdrop(&v, 1, "no_route");
    let v = n.wait_for("worker 1 to drop 100000 more packets", |v| {
        wdrop(v, 1, "no_route") >= drops + 100_000
    });
    assert_eq!(
        wk(&v, 1, "deferred_sent"),
        sent,
        "free.mode = \"immediate\" is live, yet worker 1 still defers\n{}",
        pretty(&v)
    );
    n.wait_for(
        "worker 0 to free everything deferred before the switch",
        |v| wk(v, 0, "deferred_freed") == sent && wk(v, 0, "defer_pending") == 0,
    );

    // And back to owner: deferral resumes.
    n.rewrite_config(&body("owner"));
    n.signal("HUP");
    n.wait_for("the reload back to owner, and deferral to resume", |v| {
        cfg(v, "reloads_applied") == 2 && wk(v, 1, "deferred_sent") > sent + 10_000
    });

    // Stop in immediate mode: the drain hands nothing to an owner that
    // has already stopped (see tests/stop_drain.rs for that case).
    n.rewrite_config(&body("immediate"));
    n.signal("HUP");
    n.wait_for("the reload to immediate before the stop", |v| {
        cfg(v, "reloads_applied") == 3
    });
    n.signal("TERM");
    let (out, stats) = n.finish(Duration::from_secs(30));
    let v = exited_ok(&out, stats);
    assert_accounted(&v);
    assert_eq!(cfg(&v, "reloads_rejected"), 0);
}

/// Mbufs waiting in a defer ring were dropped (and counted) already: the
/// live `in_flight` (README: "packets inside napifwd (TX buffers,
/// backlogs)") must not count them again, so that `rx == tx + dropped +
/// in_flight` holds at every scrape (design.md, section 2). Owner mode,
/// worker 0 never idle, `max_age_us` of 10 s and `defer_max` 2048: worker
/// 0's ring fills up to 2048 between flushes, and the test reads `/status`
/// while it holds at least 500.
///
/// (`Observer::report` added every ring's count to `in_flight`, the defer
/// rings' included, before commit 8795540.)
#[test]
fn live_in_flight_does_not_count_dropped_mbufs_waiting_in_a_defer_ring() {
    let dir = TempDir::new("free_in_flight");
    let (_, input) = mix();
    let in_path = dir.join("in.pcap");
    common::pcapio::write_pcap(&in_path, &input);
    let port = free_port();
    let t = live_config(&in_path, port, &free("owner", 2048, 10_000_000), 50_000);
    let _g = dpdk_lock();
    let mut n = Instance::start(&dir, &t, port, &[]);
    let v = n.wait_for("500 mbufs waiting in worker 0's defer ring", |v| {
        wk(v, 0, "defer_pending") >= 500
    });
    let (rx, tx, dropped, in_flight) = (
        u(&v, "/totals/rx_packets"),
        u(&v, "/totals/tx_packets"),
        u(&v, "/totals/dropped_packets"),
        u(&v, "/totals/in_flight"),
    );
    let unaccounted = rx as i64 - tx as i64 - dropped as i64;
    n.signal("TERM");
    let (out, stats) = n.finish(Duration::from_secs(60));
    let end = exited_ok(&out, stats);
    assert_accounted(&end);
    // Counters are read while the workers run: allow a little skew (at
    // ~40k packets/s through worker 1, a read takes far less than a burst).
    assert!(
        (in_flight as i64 - unaccounted).abs() <= 200,
        "live /status: rx {rx} - tx {tx} - dropped {dropped} = {unaccounted} packets inside \
         napifwd, but in_flight says {in_flight}, with {} dropped mbufs waiting in worker 0's \
         defer ring\n{}",
        wk(&v, 0, "defer_pending"),
        summary(&v)
    );
}
