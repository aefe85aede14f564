//! SIGHUP reloads of a running instance, watched through `/status`.
//!
//! - A loop of reloads during traffic: a valid change (napi.budget and the
//!   route's next-hop MAC), an invalid file, a restart-only change
//!   (eal.memory_mb), a file that is not TOML, another valid change. Applied
//!   / rejected / rejected / rejected / applied, as stderr, the report's
//!   `config` object and `/metrics` say; the output shows each applied MAC
//!   from its reload on and never the MAC of a rejected file; forwarding
//!   never stops; at exit everything is accounted for and no mbuf leaked.
//! - Worker removal and return during a flow replay: two workers, both in
//!   the rps map; a reload takes one out of the map (its flows, and its RX
//!   queue if it had one, move to the other), another puts it back. Every
//!   packet comes out exactly once and each flow's packets leave in order,
//!   across both workers' TX queues (net_pcap stamps every frame at
//!   `tx_burst` time from one clock).

mod common;
mod live;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use common::{dpdk_lock, Output, TempDir};
use live::*;
use serde_json::Value;

const MAC_1: &str = NEXT_HOP;
const MAC_2: &str = "02:00:00:00:02:02";
/// In rejected files only: must never appear on the wire.
const MAC_3: &str = "02:00:00:00:03:03";
const MAC_4: &str = "02:00:00:00:04:04";

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// What a reload should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Applied,
    Rejected,
}

#[test]
fn sighup_loop_applies_valid_changes_rejects_the_rest_and_never_stops_forwarding() {
    let dir = TempDir::new("reload_loop");
    let flows: Vec<Flow> = (0..256).map(|i| flow(i, true)).collect();
    let in_path = dir.join("in.pcap");
    common::pcapio::write_pcap(&in_path, &interleave(&flows, 1, 8));
    let empty = dir.join("empty.pcap");
    common::pcapio::write_pcap(&empty, &[]);
    let tx = [dir.join("out-q0.pcap"), dir.join("out-q1.pcap")];
    let port = free_port();
    let config = |memory_mb: u32, budget: u32, next_hop: &str| {
        let mut t = eal_two_cpus(memory_mb);
        t += &pcap_source(0, "src", &in_path, true);
        t += &pcap_output(1, "out", &empty, &tx);
        t += &workers(&[1, 2], None);
        t += &rps(&[], 1000);
        t += &format!("\n[napi]\nbudget = {budget}\n");
        t += &l3_route("out", next_hop);
        t += &bench(100_000);
        t += &metrics(port);
        t
    };
    let steps: [(&str, String, Outcome); 5] = [
        (
            "valid: napi.budget 300 -> 64, next hop MAC_2",
            config(1024, 64, MAC_2),
            Outcome::Applied,
        ),
        (
            "invalid: napi.budget = 0 (and next hop MAC_3)",
            config(1024, 0, MAC_3),
            Outcome::Rejected,
        ),
        (
            "restart-only: eal.memory_mb 1024 -> 1536 (and next hop MAC_3)",
            config(1536, 64, MAC_3),
            Outcome::Rejected,
        ),
        (
            "not TOML (with next hop MAC_3)",
            config(1024, 64, MAC_3) + "\n[napi\nbudget = = 1\n",
            Outcome::Rejected,
        ),
        (
            "valid: napi.budget 64 -> 128, next hop MAC_4",
            config(1024, 128, MAC_4),
            Outcome::Applied,
        ),
    ];

    let _g = dpdk_lock();
    let t_start = unix_now();
    let mut n = Instance::start(&dir, &config(1024, 300, MAC_1), port, &[]);
    let mut prev = n.wait_for("forwarding to start", |v| u(v, "/totals/tx_packets") > 2000);
    let sampler = Sampler::start(n.addr);
    assert_eq!(
        cfg(&prev, "last_reload_successful"),
        1,
        "no reload tried yet"
    );
    assert_eq!(cfg(&prev, "last_reload_unix_seconds"), 0);

    for (k, (what, text, outcome)) in steps.iter().enumerate() {
        let (applied, rejected) = (
            cfg(&prev, "reloads_applied"),
            cfg(&prev, "reloads_rejected"),
        );
        n.rewrite_config(text);
        n.signal("HUP");
        let v = n.wait_for(&format!("reload {k} ({what}) to be answered"), |v| {
            cfg(v, "reloads_applied") + cfg(v, "reloads_rejected") > applied + rejected
        });
        let p = pretty(&v);
        match outcome {
            Outcome::Applied => {
                assert_eq!(cfg(&v, "reloads_applied"), applied + 1, "{what}\n{p}");
                assert_eq!(cfg(&v, "reloads_rejected"), rejected, "{what}\n{p}");
                assert_eq!(cfg(&v, "last_reload_successful"), 1, "{what}\n{p}");
                let at = cfg(&v, "last_reload_unix_seconds");
                assert!(
                    at >= t_start && at <= unix_now(),
                    "{what}: last_reload_unix_seconds {at}\n{p}"
                );
            }
            Outcome::Rejected => {
                assert_eq!(cfg(&v, "reloads_rejected"), rejected + 1, "{what}\n{p}");
                assert_eq!(cfg(&v, "reloads_applied"), applied, "{what}\n{p}");
                assert_eq!(cfg(&v, "last_reload_successful"), 0, "{what}\n{p}");
                assert_eq!(
                    cfg(&v, "last_reload_unix_seconds"),
                    cfg(&prev, "last_reload_unix_seconds"),
                    "{what}: a rejected reload is not the last applied one\n{p}"
                );
                let (code, metrics) = http_get(n.addr, "/metrics").expect("/metrics answers");
                assert_eq!(code, 200);
                assert!(
                    metrics
                        .lines()
                        .any(|l| l == "napifwd_config_last_reload_successful 0"),
                    "{what}: /metrics must say the last reload failed"
                );
            }
        }
        // Forwarding goes on after the reload.
        let tx = u(&v, "/totals/tx_packets");
        assert!(
            tx > u(&prev, "/totals/tx_packets"),
            "{what}: tx did not grow across the reload\n{p}"
        );
        prev = n.wait_for(
            &format!("forwarding to go on after reload {k} ({what})"),
            |v| u(v, "/totals/tx_packets") >= tx + 2000,
        );
    }
    let (code, metrics) = http_get(n.addr, "/metrics").expect("/metrics answers");
    assert_eq!(code, 200);
    assert!(metrics
        .lines()
        .any(|l| l == "napifwd_config_last_reload_successful 1"));
    assert!(metrics
        .lines()
        .any(|l| l == "napifwd_config_reloads_total 2"));
    assert!(metrics
        .lines()
        .any(|l| l == "napifwd_config_reloads_rejected_total 3"));

    let samples = sampler.stop();
    n.signal("TERM");
    let (out, stats) = n.finish(Duration::from_secs(60));
    let v = exited_ok(&out, stats);
    assert_accounted(&v);
    assert_eq!(cfg(&v, "reloads_applied"), 2, "{}", pretty(&v));
    assert_eq!(cfg(&v, "reloads_rejected"), 3, "{}", pretty(&v));

    // Forwarding never stopped: the counters kept moving while sampled.
    assert!(
        samples.len() >= 20,
        "only {} /status samples",
        samples.len()
    );
    let (rx_stall, tx_stall) = longest_stall(&samples);
    assert!(
        rx_stall < Duration::from_secs(1) && tx_stall < Duration::from_secs(1),
        "rx stood still for {rx_stall:?}, tx for {tx_stall:?} during the reloads"
    );

    // stderr: one line per SIGHUP, in order, saying what happened.
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("SIGHUP"))
        .collect();
    assert_eq!(lines.len(), steps.len(), "{}", out.describe());
    for ((what, _, outcome), line) in steps.iter().zip(&lines) {
        match outcome {
            Outcome::Applied => assert!(line.contains("reloaded"), "{what}: {line}"),
            Outcome::Rejected => assert!(
                line.contains("rejected") && line.contains("running config stays"),
                "{what}: {line}"
            ),
        }
    }
    let rest_of = |i: usize| {
        // A rejection's explanation may span several lines: everything
        // from its SIGHUP line to the next one.
        let start = out.stderr.find(lines[i]).expect("line in stderr");
        let tail = &out.stderr[start..];
        let end = lines
            .get(i + 1)
            .and_then(|next| tail.find(next))
            .unwrap_or(tail.len());
        tail[..end].to_owned()
    };
    let invalid = rest_of(1);
    assert!(
        invalid.contains("invalid config") && invalid.contains("napi.budget"),
        "the rejection names the bad key:\n{invalid}"
    );
    let restart = rest_of(2);
    assert!(
        restart.contains("need a restart") && restart.contains("[eal]"),
        "the rejection names the restart-only section:\n{restart}"
    );
    assert!(
        !restart.contains("[[ports]]") && !restart.contains("[workers]"),
        "only [eal] changed:\n{restart}"
    );
    assert!(rest_of(3).contains("invalid config"), "{}", rest_of(3));

    // The wire: each TX queue shows MAC_1, then MAC_2, then MAC_4, each
    // from its reload on; never MAC_3.
    let phase = |m: &str| match m {
        MAC_1 => Some(0),
        MAC_2 => Some(1),
        MAC_4 => Some(2),
        _ => None,
    };
    let mut per_phase = [0u64; 3];
    let mut total = 0u64;
    for f in &tx {
        let frames = common::pcapio::read_pcap_ts(f);
        let mut cur = 0;
        for (i, (_, fr)) in frames.iter().enumerate() {
            let m = mac_string(&dst_mac(fr));
            let ph = phase(&m).unwrap_or_else(|| {
                panic!(
                    "{}: frame {i} went to {m}: a next hop of a rejected config took effect",
                    f.display()
                )
            });
            assert!(
                ph >= cur,
                "{}: frame {i} went to {m} after frames to a later config's next hop",
                f.display()
            );
            cur = ph;
            per_phase[ph] += 1;
        }
        total += frames.len() as u64;
    }
    assert_eq!(total, u(&v, "/totals/tx_packets"), "frames written == tx");
    assert!(
        per_phase.iter().all(|&c| c > 0),
        "frames per next hop (MAC_1, MAC_2, MAC_4): {per_phase:?}"
    );
}

/// Which worker a removal takes out of the rps map.
#[derive(Debug, Clone, Copy)]
enum Removed {
    /// Worker 0 (lcore 1), which polls the RX queue: the queue moves.
    RxWorker,
    /// Worker 1 (lcore 2), which has only its backlog: it drains.
    BacklogWorker,
}

/// Flows of the replay and packets per flow.
const FLOWS_ON_W0: usize = 48;
const FLOWS_ON_W1: usize = 16;
const PER_FLOW: u32 = 1500;

fn removal_and_return(removed: Removed) {
    let name = format!("reload_remove_{removed:?}");
    let dir = TempDir::new(&name);
    // Three flows in four on worker 0 (which forwards them inline, so its
    // RX rate is bounded by its own work), one in four on worker 1 via its
    // backlog: worker 1 has three times the capacity it needs, and its
    // backlog (max 2000) does not overflow even if it loses its CPU for a
    // while.
    let mut flows = Vec::new();
    let (mut on0, mut on1) = (0, 0);
    for id in 0.. {
        if on0 == FLOWS_ON_W0 && on1 == FLOWS_ON_W1 {
            break;
        }
        let f = flow(id, true);
        match rps_target(&frame(&f, 0, 0), 2) {
            0 if on0 < FLOWS_ON_W0 => on0 += 1,
            1 if on1 < FLOWS_ON_W1 => on1 += 1,
            _ => continue,
        }
        flows.push(f);
    }
    let rig = FlowReplay::new(&dir, &flows, PER_FLOW, 2000);
    let (n_in, tx, port) = (rig.n_in, rig.tx.clone(), rig.port);
    let config = |map: &[u32]| rig.config(map);
    let (gone, kept_lcore) = match removed {
        Removed::RxWorker => (0usize, 2u32),
        Removed::BacklogWorker => (1usize, 1u32),
    };
    let stay = 1 - gone;

    let _g = dpdk_lock();
    let mut n = Instance::start(&dir, &config(&[1, 2]), port, &[]);
    n.wait_for("a sixth of the replay", |v| {
        u(v, "/totals/rx_packets") >= n_in / 6
    });

    // Removal.
    n.rewrite_config(&config(&[kept_lcore]));
    n.signal("HUP");
    let s1 = n.wait_for("the removal to be applied", |v| {
        cfg(v, "reloads_applied") + cfg(v, "reloads_rejected") >= 1
    });
    assert_eq!(cfg(&s1, "reloads_applied"), 1, "{}", pretty(&s1));
    assert!(
        u(&s1, "/totals/rx_packets") < n_in * 2 / 3,
        "the replay must still be running after the removal\n{}",
        pretty(&s1)
    );
    let s2 = n.wait_for("another sixth of the replay", |v| {
        u(v, "/totals/rx_packets") >= u(&s1, "/totals/rx_packets") + n_in / 6
    });
    match removed {
        Removed::RxWorker => {
            assert_eq!(
                wk(&s2, 0, "rx_packets"),
                wk(&s1, 0, "rx_packets"),
                "worker 0 is out of the map: its RX queue belongs to worker 1\n{}",
                pretty(&s2)
            );
            assert!(wk(&s2, 1, "rx_packets") > wk(&s1, 1, "rx_packets"));
        }
        Removed::BacklogWorker => {
            assert_eq!(
                wk(&s2, 1, "processed"),
                wk(&s1, 1, "processed"),
                "worker 1 is out of the map: nothing is steered to it\n{}",
                pretty(&s2)
            );
            assert!(wk(&s2, 0, "processed") > wk(&s1, 0, "processed"));
        }
    }
    assert!(wk(&s2, stay, "processed") > wk(&s1, stay, "processed"));

    // Return.
    n.rewrite_config(&config(&[1, 2]));
    n.signal("HUP");
    let s3 = n.wait_for("the return to be applied", |v| {
        cfg(v, "reloads_applied") + cfg(v, "reloads_rejected") >= 2
    });
    assert_eq!(cfg(&s3, "reloads_applied"), 2, "{}", pretty(&s3));
    assert!(
        u(&s3, "/totals/rx_packets") < n_in - n_in / 12,
        "the replay must still be running after the return\n{}",
        pretty(&s3)
    );
    let (out, v) = rig.finish(n);
    let p = pretty(&v);
    assert_eq!(cfg(&v, "reloads_applied"), 2, "{p}");
    assert_eq!(cfg(&v, "reloads_rejected"), 0, "{p}");
    assert_eq!(
        u(&v, "/totals/dropped_packets"),
        0,
        "nothing accepted may be lost across a removal and a return\n{p}"
    );
    assert_eq!(u(&v, "/totals/tx_packets"), n_in, "{p}");
    assert!(
        wk(&v, gone, "processed") > wk(&s3, gone, "processed"),
        "the returned worker forwards again\n{p}"
    );
    if let Removed::RxWorker = removed {
        assert!(
            wk(&v, 0, "rx_packets") > wk(&s3, 0, "rx_packets"),
            "worker 0 got its RX queue back\n{p}"
        );
    }
    let hups: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("SIGHUP"))
        .collect();
    assert_eq!(hups.len(), 2, "{}", out.describe());
    assert!(
        hups[0].contains("reloaded")
            && hups[0].contains(&format!(
                "rps map [{stay}], workers out of the map [{gone}]"
            )),
        "{}",
        hups[0]
    );
    assert!(
        hups[1].contains("reloaded")
            && hups[1].contains("rps map [0, 1], workers out of the map []"),
        "{}",
        hups[1]
    );

    // The wire: every packet exactly once; each flow in order across both
    // TX queues; the moved flows really changed queue and came back.
    let runs_by_flow = wire_order(&tx, flows.len(), PER_FLOW);
    let mut moved = 0;
    for (flow, runs) in runs_by_flow {
        // Queue runs in sequence order, e.g. [0, 1, 0] for a flow of the
        // removed worker.
        if runs == [gone, stay, gone] {
            moved += 1;
        } else {
            assert!(
                runs == [gone] || runs == [stay],
                "flow {flow}: queue runs {runs:?}"
            );
        }
    }
    let expected_moved = match removed {
        Removed::RxWorker => FLOWS_ON_W0,
        Removed::BacklogWorker => FLOWS_ON_W1,
    };
    assert_eq!(
        moved, expected_moved,
        "flows of the removed worker that moved to the other and came back"
    );
}

#[test]
fn removing_the_rx_worker_moves_its_queue_and_keeps_every_packet_and_flow_order() {
    removal_and_return(Removed::RxWorker);
}

#[test]
fn removing_a_backlog_worker_drains_it_and_keeps_every_packet_and_flow_order() {
    removal_and_return(Removed::BacklogWorker);
}

/// A reload that moves RX queues waits for the backlogs to drain, for at
/// most a step timeout (2 s in src/app/reload.rs). When the drain takes
/// longer (a full backlog of 4000 packets at ~1 ms each), the reload may be
/// rejected, but forwarding must go on: RX was paused for the regroup and
/// must be resumed whatever the outcome (it stayed paused for good before
/// commit 42e2a9d).
#[test]
fn a_regroup_that_times_out_draining_does_not_leave_rx_paused() {
    let dir = TempDir::new("reload_slow_drain");
    let flows: Vec<Flow> = (0..256).map(|i| flow(i, true)).collect();
    let in_path = dir.join("in.pcap");
    common::pcapio::write_pcap(&in_path, &interleave(&flows, 1, 8));
    let port = free_port();
    let config = |map: &[u32]| {
        let mut t = eal_two_cpus(1024);
        t += &pcap_source(0, "src", &in_path, true);
        t += &null_sink(1, "sink");
        t += &workers(&[1, 2], Some(100));
        t += &rps(map, 4000);
        t += &l3_route("sink", NEXT_HOP);
        t += &bench(3_000_000);
        t += &metrics(port);
        t
    };
    let _g = dpdk_lock();
    let mut n = Instance::start(&dir, &config(&[2]), port, &[]);
    n.wait_for("worker 1's backlog to fill", |v| {
        wk(v, 1, "backlog_len") >= 3000
    });
    n.rewrite_config(&config(&[1, 2]));
    n.signal("HUP");
    let v = n.wait_for("the reload to be answered", |v| {
        cfg(v, "reloads_applied") + cfg(v, "reloads_rejected") >= 1
    });
    let rx = u(&v, "/totals/rx_packets");
    n.wait_within(
        Duration::from_secs(10),
        &format!(
            "RX to resume after the reload ({}; rx was {rx})",
            if cfg(&v, "reloads_applied") == 1 {
                "applied"
            } else {
                "rejected"
            }
        ),
        |v| u(v, "/totals/rx_packets") >= rx + 10_000,
    );
    n.signal("TERM");
    let (out, stats) = n.finish(Duration::from_secs(60));
    let v = exited_ok(&out, stats);
    assert_accounted(&v);
}

/// A regroup whose hand-over of RX queues times out (a worker is made to
/// answer TakeRx after 2.5 s, past the 2 s step timeout, through the
/// test-only NAPIFWD_TEST_TAKE_RX_DELAY_MS): the reload is rejected, says
/// why, and every RX queue ends up polled again. Twice: the RX worker
/// (worker 0) late, so its queue comes back when its answer arrives; and
/// only the other worker late, so the RX queue handed over in time goes
/// back to worker 0 (before, RX stayed paused for good and the queues
/// taken were dropped).
#[test]
fn a_regroup_whose_rx_hand_over_times_out_gives_the_queues_back() {
    for (late, answered) in [("2500", 0), ("2500@1", 1)] {
        regroup_with_late_rx_hand_over(late, answered);
    }
}

fn regroup_with_late_rx_hand_over(delay: &str, answered: u32) {
    let dir = TempDir::new("reload_take_rx_late");
    let (_, in_path) = flows_pcap(&dir, 256, 1, 8);
    let port = free_port();
    let config = |map: &[u32]| {
        let mut t = eal_two_cpus(1024);
        t += &pcap_source(0, "src", &in_path, true);
        t += &null_sink(1, "sink");
        t += &workers(&[1, 2], None);
        t += &rps(map, 1000);
        t += &l3_route("sink", NEXT_HOP);
        t += &bench(20_000);
        t += &metrics(port);
        t
    };
    let _g = dpdk_lock();
    let mut n = Instance::start_env(
        &dir,
        &config(&[1, 2]),
        port,
        &[],
        &[("NAPIFWD_TEST_TAKE_RX_DELAY_MS", delay)],
    );
    n.wait_for("forwarding to start", |v| u(v, "/totals/tx_packets") > 1000);
    let v = n.reload(&config(&[2, 1]));
    assert_eq!(cfg(&v, "reloads_rejected"), 1, "{}", pretty(&v));
    let rx = u(&v, "/totals/rx_packets");
    n.wait_within(
        Duration::from_secs(10),
        &format!("RX to resume after the rejected reload (rx was {rx})"),
        |v| u(v, "/totals/rx_packets") >= rx + 10_000,
    );
    let (out, v) = n.stop();
    assert_no_leak(&v);
    assert!(
        out.stderr.contains("rejected")
            && out.stderr.contains(&format!(
                "handing RX queues over: only {answered} of 2 workers answered"
            )),
        "the rejection must say why\n{}",
        out.describe()
    );
}

/// A reload that changes nothing but `napi.budget`, on the test suite's
/// standard single-worker setup (common::eal_section(): 256 MB), must be
/// applied: it needs no new tables (every reload built a second LPM4 +
/// LPM6 plan, ~128 MB, and was rejected for memory before commit 42e2a9d).
#[test]
fn a_napi_only_reload_needs_no_memory_for_new_route_tables() {
    let dir = TempDir::new("reload_napi_memory");
    let flows: Vec<Flow> = (0..256).map(|i| flow(i, true)).collect();
    let in_path = dir.join("in.pcap");
    common::pcapio::write_pcap(&in_path, &interleave(&flows, 1, 8));
    let port = free_port();
    let config = |budget: u32| {
        let mut t = common::eal_section();
        t += &pcap_source(0, "src", &in_path, true);
        t += &null_sink(1, "sink");
        t += &workers(&[1], None);
        t += &format!("\n[napi]\nbudget = {budget}\n");
        t += &l3_route("sink", NEXT_HOP);
        t += &metrics(port);
        t
    };
    let _g = dpdk_lock();
    let mut n = Instance::start(&dir, &config(300), port, &[]);
    n.wait_for("forwarding to start", |v| u(v, "/totals/tx_packets") > 0);
    n.rewrite_config(&config(64));
    n.signal("HUP");
    n.wait_for("the reload to be answered", |v| {
        cfg(v, "reloads_applied") + cfg(v, "reloads_rejected") >= 1
    });
    n.signal("TERM");
    let (out, stats) = n.finish(Duration::from_secs(60));
    let v = exited_ok(&out, stats);
    assert_accounted(&v);
    let hup: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("SIGHUP"))
        .collect();
    assert_eq!(
        (cfg(&v, "reloads_applied"), cfg(&v, "reloads_rejected")),
        (1, 0),
        "napi.budget 300 -> 64 must be applied live: {hup:?}"
    );
}

/// Reads both TX queues' pcaps and checks the wire: `flows` flows came
/// out, each with every packet `0..per_flow` exactly once, rising per
/// queue, and in order across the queues (by capture time). Returns each
/// flow's queue runs in sequence order (e.g. `[0, 1]`: it moved once).
fn wire_order(
    tx: &[std::path::PathBuf; 2],
    flows: usize,
    per_flow: u32,
) -> BTreeMap<u32, Vec<usize>> {
    let mut by_flow: BTreeMap<u32, Vec<(u32, Duration, usize)>> = BTreeMap::new();
    for (q, f) in tx.iter().enumerate() {
        for (ts, fr) in common::pcapio::read_pcap_ts(f) {
            let (flow, seq) = tag(&fr).expect("a test frame");
            by_flow.entry(flow).or_default().push((seq, ts, q));
        }
    }
    assert_eq!(by_flow.len(), flows, "flows that came out");
    let mut out = BTreeMap::new();
    for (flow, mut pkts) in by_flow {
        // Per queue, the file order is the TX order: sequences must rise.
        for q in 0..2 {
            let seqs: Vec<u32> = pkts.iter().filter(|p| p.2 == q).map(|p| p.0).collect();
            assert!(
                seqs.windows(2).all(|w| w[0] < w[1]),
                "flow {flow} out of order (or duplicated) on queue {q}"
            );
        }
        pkts.sort_by_key(|p| p.0);
        let seqs: Vec<u32> = pkts.iter().map(|p| p.0).collect();
        assert_eq!(
            seqs,
            (0..per_flow).collect::<Vec<_>>(),
            "flow {flow}: every packet exactly once"
        );
        for w in pkts.windows(2) {
            assert!(
                w[0].1 <= w[1].1,
                "flow {flow}: packet {} (queue {}, t={:?}) left after packet {} (queue {}, t={:?})",
                w[0].0,
                w[0].2,
                w[0].1,
                w[1].0,
                w[1].2,
                w[1].1
            );
        }
        let mut runs: Vec<usize> = pkts.iter().map(|p| p.2).collect();
        runs.dedup();
        out.insert(flow, runs);
    }
    out
}

/// A reload that only changes the weights of the rps map ([1, 2, 2, 2] to
/// [1, 1, 1, 2]: the same workers, so the same set) still moves flows: here
/// half of them go from worker 1, whose backlog is long (it has two thirds
/// of the traffic and is no faster than worker 0), to worker 0, which
/// forwards inline. Their new packets must not overtake the old ones still
/// queued on worker 1, so the reload pauses RX and drains the backlogs as
/// a removal does. (Without that, the moved flows come out of order by
/// milliseconds: checked by breaking the regroup condition.)
#[test]
fn a_weight_only_reload_drains_before_flows_move_and_keeps_flow_order() {
    const PER_FLOW_W: u32 = 400;
    // A backlog that never overflows: the whole replay fits.
    const BIG_BACKLOG: u32 = 20_000;
    let dir = TempDir::new("reload_weights");
    // Map index q in 0..4 of the flow hash: [0, 1, 1, 1] sends q >= 1 to
    // worker 1, [0, 0, 0, 1] only q = 3. Sixteen flows of each kind.
    const MOVING: usize = 16;
    let want = [16, MOVING, 16]; // stay on 0, move 1 -> 0, stay on 1
    let mut got = [0; 3];
    let mut flows = Vec::new();
    for id in 0.. {
        if got == want {
            break;
        }
        let f = flow(id, true);
        let kind = match rps_target(&frame(&f, 0, 0), 4) {
            0 => 0,
            1 | 2 => 1,
            _ => 2,
        };
        if got[kind] < want[kind] {
            got[kind] += 1;
            flows.push(f);
        }
    }
    let rig = FlowReplay::new(&dir, &flows, PER_FLOW_W, BIG_BACKLOG);
    let (s1, hup) =
        rig.reload_mid_replay(&dir, &rig.config(&[1, 2, 2, 2]), &rig.config(&[1, 1, 1, 2]));
    assert!(
        u(&s1, "/totals/rx_packets") < rig.n_in,
        "the replay must still be running after the reload\n{}",
        pretty(&s1)
    );
    assert!(
        hup.contains("reloaded") && hup.contains("rps map [0, 0, 0, 1]"),
        "the weight change must regroup: {hup}"
    );
    let runs = wire_order(&rig.tx, flows.len(), PER_FLOW_W);
    let moved = runs.values().filter(|r| **r == [1, 0]).count();
    assert_eq!(
        moved, MOVING,
        "flows that moved from worker 1 to worker 0: {runs:?}"
    );
}

/// With `rps.balance` on, every reload regroups (pauses RX and drains the
/// backlogs): the workers restart from the map's split, which moves the
/// flows the balancing had moved. A reload that changes nothing about RPS
/// must still say it regrouped, and the replay must come out complete and
/// in order per flow (the balancing moved flows during the replay too).
#[test]
fn a_reload_with_rps_balance_regroups_and_keeps_flow_order() {
    const PER_FLOW_B: u32 = 300;
    let dir = TempDir::new("reload_balance");
    let flows: Vec<Flow> = (0..32).map(|i| flow(i, true)).collect();
    let rig = FlowReplay::new(&dir, &flows, PER_FLOW_B, 20_000);
    let config = |weight: u32| {
        rig.config(&[1, 2])
            .replace("[rps]\n", "[rps]\nbalance = true\n")
            + &format!("\n[napi]\nweight = {weight}\n")
    };
    let (_, hup) = rig.reload_mid_replay(&dir, &config(64), &config(32));
    assert!(
        hup.contains("reloaded") && hup.contains("rps map"),
        "a reload with rps.balance must regroup: {hup}"
    );
    wire_order(&rig.tx, flows.len(), PER_FLOW_B);
}

/// A stop soon after a regrouping reload, under endless traffic. The
/// reload pauses RX; the pause must not count as the stop's "RX stopped"
/// acknowledgement, or the stop's phase 2 starts at once and a worker
/// drains its backlog while the RX worker, mid-round, still feeds it:
/// packets stranded, `run` exits 1 with an mbuf leak. The RX worker keeps
/// three quarters of the flows at 200 000 cycles each, so it is nearly
/// always mid-round; the other worker's backlog is nearly always empty.
/// One cycle catches it only when the stop lands before the RX worker's
/// last steer of its round, so three reload-then-stop cycles (without the
/// fix the first cycle failed: 9 packets stranded in a drained backlog).
#[test]
fn a_stop_after_a_regrouping_reload_waits_for_rx_to_stop() {
    let dir = TempDir::new("reload_then_stop");
    let (_, in_path) = flows_pcap(&dir, 64, 4, 4);
    let port = free_port();
    let config = |map: &[u32]| {
        let mut t = eal_two_cpus(1024);
        t += &pcap_source(0, "src", &in_path, true);
        t += &null_sink(1, "out");
        t += &workers(&[1, 2], None);
        t += &rps(map, 1000);
        t += &l3_route("out", NEXT_HOP);
        t += &bench(200_000);
        t += &metrics(port);
        t
    };
    let _g = dpdk_lock();
    for cycle in 0..3 {
        let mut n = Instance::start(&dir, &config(&[1, 1, 1, 2]), port, &[]);
        n.wait_for("forwarding to start", |v| u(v, "/totals/tx_packets") > 100);
        let s = n.reload(&config(&[1, 1, 2, 1]));
        assert_eq!(
            cfg(&s, "reloads_applied"),
            1,
            "cycle {cycle}: {}",
            pretty(&s)
        );
        let sent = wk(&s, 0, "rps_sent");
        n.wait_for("the RX worker to steer again", |v| {
            wk(v, 0, "rps_sent") > sent
        });
        let (_, v) = n.stop();
        assert_no_leak(&v);
    }
}

/// `forward.tx_drain_us` is live. One worker under endless traffic (its
/// rounds are never empty, so only a full buffer or the drain timer sends
/// a partial one): flow 0 of 4096 has its own route to port `b`, so `b`'s
/// TX buffer fills slowly. With a one-hour timer `b` sends only whole
/// buffers (32 packets); once a reload sets 100 us, partial ones go out:
/// what `b` sends after the reload stops being a multiple of 32.
#[test]
fn a_reload_applies_a_new_tx_drain_timer() {
    let dir = TempDir::new("reload_tx_drain");
    let (flows, in_path) = flows_pcap(&dir, 4096, 1, 4);
    let port = free_port();
    let config = |tx_drain_us: u32| {
        let mut t = eal_two_cpus(1024);
        t += &pcap_source(0, "src", &in_path, true);
        t += &null_sink(1, "a");
        t += &null_sink(2, "b");
        t += &workers(&[1], None);
        t += &l3_route("a", NEXT_HOP).replace(
            "mode = \"l3\"\n",
            &format!("mode = \"l3\"\ntx_drain_us = {tx_drain_us}\n"),
        );
        t += &format!(
            "\n[[forward.routes]]\nprefix = \"{}/32\"\nport = \"b\"\nnext_hop_mac = \"{NEXT_HOP}\"\n",
            flows[0].dst
        );
        t += &metrics(port);
        t
    };
    let b_tx = |v: &Value| u(v, "/ports/b/tx_packets");
    let _g = dpdk_lock();
    let mut n = Instance::start(&dir, &config(3_600_000_000), port, &[]);
    let v = n.wait_for("port b to send two buffers", |v| b_tx(v) >= 64);
    let mut seen = vec![b_tx(&v)];
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(20));
        if let Some(v) = n.try_status() {
            seen.push(b_tx(&v));
        }
    }
    assert!(
        seen.iter().all(|t| t % 32 == 0),
        "with a one-hour drain timer port b sends whole buffers only: {seen:?}"
    );
    let s = n.reload(&config(100));
    assert_eq!(cfg(&s, "reloads_applied"), 1, "{}", pretty(&s));
    // The switch itself flushes every TX buffer (a reload flushes before
    // it applies): count from there.
    let base = b_tx(&s);
    n.wait_for("port b to send a partial buffer", |v| {
        (b_tx(v) - base) % 32 != 0
    });
    let (_, v) = n.stop();
    assert_no_leak(&v);
}

/// `log.level` filters napifwd's own stderr lines and is live: started at
/// `warn` (no start-up line), reloaded to `info` (that reload's line shows),
/// then to `error` (neither that reload's line nor the stop's shows).
#[test]
fn log_level_filters_napifwd_lines_and_is_live() {
    let dir = TempDir::new("reload_log_level");
    let (_, in_path) = flows_pcap(&dir, 64, 1, 4);
    let port = free_port();
    let config = |level: &str| {
        let mut t = eal_two_cpus(1024);
        t += &pcap_source(0, "src", &in_path, true);
        t += &null_sink(1, "out");
        t += &workers(&[1], None);
        t += &l3_route("out", NEXT_HOP);
        t += &metrics(port);
        t += &format!("\n[log]\nlevel = \"{level}\"\n");
        t
    };
    let _g = dpdk_lock();
    let mut n = Instance::start(&dir, &config("warn"), port, &[]);
    n.wait_for("forwarding to start", |v| u(v, "/totals/tx_packets") > 100);
    for (k, level) in ["info", "error"].iter().enumerate() {
        let v = n.reload(&config(level));
        assert_eq!(
            cfg(&v, "reloads_applied"),
            k as u64 + 1,
            "reload to {level}: {}",
            pretty(&v)
        );
    }
    let (out, _) = n.stop();
    let err = &out.stderr;
    assert!(
        !err.contains("worker(s) on lcore(s)"),
        "info line at warn\n{err}"
    );
    assert!(!err.contains("metrics on http"), "info line at warn\n{err}");
    assert_eq!(
        err.matches("reloaded in").count(),
        1,
        "only the reload to info says so\n{err}"
    );
    assert!(!err.contains("stopping"), "info line at error\n{err}");
    assert!(
        out.stdout.contains("napifwd: final:"),
        "results always print\n{}",
        out.stdout
    );
}

/// A replay of `flows` from one pcap into a two-queue pcap output, for two
/// workers (lcores 1 and 2, RX on 1) slowed to 40 000 cycles per packet so
/// that a reload lands mid-replay.
struct FlowReplay {
    in_path: std::path::PathBuf,
    empty: std::path::PathBuf,
    tx: [std::path::PathBuf; 2],
    port: u16,
    max_backlog: u32,
    n_in: u64,
}

impl FlowReplay {
    fn new(dir: &TempDir, flows: &[Flow], per_flow: u32, max_backlog: u32) -> FlowReplay {
        let input = interleave(flows, per_flow, 4);
        let in_path = dir.join("in.pcap");
        common::pcapio::write_pcap(&in_path, &input);
        let empty = dir.join("empty.pcap");
        common::pcapio::write_pcap(&empty, &[]);
        FlowReplay {
            in_path,
            empty,
            tx: [dir.join("out-q0.pcap"), dir.join("out-q1.pcap")],
            port: free_port(),
            max_backlog,
            n_in: input.len() as u64,
        }
    }

    /// The config with this rps map (worker lcores).
    fn config(&self, map: &[u32]) -> String {
        let mut t = eal_two_cpus(1024);
        t += &pcap_source(0, "src", &self.in_path, false);
        t += &pcap_output(1, "out", &self.empty, &self.tx);
        t += &workers(&[1, 2], None);
        t += &rps(map, self.max_backlog);
        t += &l3_route("out", NEXT_HOP);
        t += &bench(40_000);
        t += &metrics(self.port);
        t
    }

    /// Runs `before`, switches to `after` with SIGHUP once a third of the
    /// replay is in, requires the reload applied, lets the replay finish
    /// and requires nothing dropped. Returns the status right after the
    /// reload and napifwd's SIGHUP line.
    fn reload_mid_replay(&self, dir: &TempDir, before: &str, after: &str) -> (Value, String) {
        let _g = dpdk_lock();
        let mut n = Instance::start(dir, before, self.port, &[]);
        n.wait_for("a third of the replay", |v| {
            u(v, "/totals/rx_packets") >= self.n_in / 3
        });
        n.rewrite_config(after);
        n.signal("HUP");
        let s1 = n.wait_for("the reload to be applied", |v| {
            cfg(v, "reloads_applied") + cfg(v, "reloads_rejected") >= 1
        });
        assert_eq!(cfg(&s1, "reloads_applied"), 1, "{}", pretty(&s1));
        let (out, v) = self.finish(n);
        assert_eq!(u(&v, "/totals/dropped_packets"), 0, "{}", pretty(&v));
        let hup = out
            .stderr
            .lines()
            .find(|l| l.contains("SIGHUP"))
            .unwrap_or_else(|| panic!("no SIGHUP line\n{}", out.describe()))
            .to_owned();
        (s1, hup)
    }

    /// Waits until the whole replay is forwarded or dropped, stops napifwd
    /// with SIGTERM and returns its output and final report, which must
    /// account for every packet.
    fn finish(&self, mut n: Instance) -> (Output, Value) {
        n.wait_for("the whole replay to be forwarded or dropped", |v| {
            u(v, "/totals/rx_packets") == self.n_in
                && u(v, "/totals/tx_packets") + u(v, "/totals/dropped_packets") == self.n_in
        });
        n.signal("TERM");
        let (out, stats) = n.finish(Duration::from_secs(60));
        let v = exited_ok(&out, stats);
        assert_accounted(&v);
        (out, v)
    }
}
