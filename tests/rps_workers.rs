//! Backlog workers and RPS end to end (issue 3): the binary runs with 2 and
//! 3 workers (more workers than the machine's 2 CPUs, through the EAL's
//! `lcore@cpu` map), one input port whose single RX queue worker 0 polls,
//! and RPS with the software flow hash spreading flows over the workers.
//!
//! What must hold:
//! - every packet comes out, each flow on the TX queue of the worker its
//!   hash names (computed here with napifwd's own `FlowKey` and
//!   `reciprocal_scale`, the contract of `rps.hash = "software"`), in
//!   order; per-worker `processed`, `rps_sent`, `rps_received` equal what
//!   the hash predicts;
//! - a tiny `max_backlog` under a flood drops `backlog_full` and the totals
//!   still balance, with no mbuf leaked;
//! - the flow limit drops the elephant, not the mice;
//! - `idle = "park"` delivers a sparse trickle from a kernel peer (veth in
//!   a network namespace, `net_af_packet`) and counts parks and kicks.
//!
//! A worker's TX queue on a `net_pcap` port is its own `tx_pcap` file, so
//! the output says which worker forwarded each packet.

mod common;

use std::collections::HashMap;
use std::io::Write as _;
use std::process::Stdio;
use std::time::Duration;

use common::packet::*;
use common::rig::{self, Rig, VethNs};
use common::*;
use napifwd::fwd::flow::FlowKey;
use napifwd::rps::reciprocal_scale;

const MAC_A: &str = "02:00:00:00:00:0a";
const MAC_B: &str = "02:00:00:00:00:0b";
const PEER: &str = "02:00:00:00:99:01";

/// The software flow hash napifwd steers by (`rps.symmetric = true`, the
/// default).
fn flow_hash(frame: &[u8]) -> u32 {
    flow_hash_with(frame, true)
}

fn flow_hash_with(frame: &[u8], symmetric: bool) -> u32 {
    FlowKey::from_frame(frame).map_or(0, |k| k.hash(symmetric))
}

/// The rps map index a frame goes to among `n` map entries.
fn target(frame: &[u8], n: usize, symmetric: bool) -> usize {
    reciprocal_scale(flow_hash_with(frame, symmetric), n as u32) as usize
}

/// Workers on lcores 1..=n, lcore 0 (main) and lcore 1 on CPU 0, the rest
/// on CPU 1: the machine has two cores.
fn eal_for_workers(n: usize) -> String {
    let mut lcores = String::from("0@0,1@0");
    for l in 2..=n {
        lcores.push_str(&format!(",{l}@1"));
    }
    eal_section_custom(&lcores, 768)
}

fn worker_setup(name: &str, n: usize) -> PcapSetup {
    let mut s = PcapSetup::new(name);
    s.eal = eal_for_workers(n);
    s.workers = (1..=n as u32).collect();
    s
}

/// `flows` UDP flows of `per_flow` packets each, interleaved round-robin,
/// with addresses and ports varied so the hash spreads them; half of the
/// flows have the higher address as source, so the symmetric hash (which
/// orders the endpoints) and the plain one differ. Returns the input and,
/// per flow, its frames in order.
fn many_flows(flows: u32, per_flow: u32) -> (Vec<Vec<u8>>, Vec<Vec<Vec<u8>>>) {
    let mut input = Vec::new();
    let mut by_flow = vec![Vec::new(); flows as usize];
    for i in 0..per_flow {
        for f in 0..flows {
            let mut data = i.to_be_bytes().to_vec();
            data.extend_from_slice(&filler(
                f << 16 | i,
                18 + (i as usize * 13 + f as usize) % 90,
            ));
            let src = if f % 2 == 0 {
                format!("10.{}.{}.1", f % 7, f / 7)
            } else {
                format!("203.0.{}.{}", f % 7, 1 + f / 7)
            };
            let dst = format!("198.18.{}.{}", f % 5, 1 + f % 200);
            let ip = Ipv4::udp(&src, &dst, 1024 + f as u16, 4000 + (f % 3) as u16, &data)
                .with_id(i as u16);
            let frame = Frame::ipv4(mac(MAC_A), mac(PEER), &ip).bytes();
            by_flow[f as usize].push(frame.clone());
            input.push(frame);
        }
    }
    (input, by_flow)
}

fn w(stats: &Stats, worker: usize, key: &str) -> u64 {
    stats.u64_at(&format!("/workers/{worker}/{key}"))
}

/// Checks each TX queue's frames: every frame belongs to a flow whose
/// expected queue is this one, and each flow's frames come out complete
/// and in order.
fn assert_flows_on_expected_queues(
    queues: &[Vec<Vec<u8>>],
    flows: &[Vec<Vec<u8>>],
    expected_queue: impl Fn(usize) -> usize,
) {
    let mut index: HashMap<&[u8], (usize, usize)> = HashMap::new();
    for (f, frames) in flows.iter().enumerate() {
        for (i, fr) in frames.iter().enumerate() {
            assert!(index.insert(fr, (f, i)).is_none(), "frames are not unique");
        }
    }
    let mut next = vec![0usize; flows.len()];
    for (q, frames) in queues.iter().enumerate() {
        for (n, fr) in frames.iter().enumerate() {
            let &(f, i) = index.get(fr.as_slice()).unwrap_or_else(|| {
                panic!(
                    "TX queue {q} frame {n} is no input frame: {}",
                    hex_head(fr, 64)
                )
            });
            assert_eq!(
                expected_queue(f),
                q,
                "flow {f} came out on TX queue {q} (worker {q}); its hash names worker {}",
                expected_queue(f)
            );
            assert_eq!(
                i, next[f],
                "TX queue {q}: flow {f} frame {i} came out when frame {} was due (reordered or lost)",
                next[f]
            );
            next[f] += 1;
        }
    }
    for (f, frames) in flows.iter().enumerate() {
        assert_eq!(
            next[f],
            frames.len(),
            "only {} of the {} frames of flow {f} came out",
            next[f],
            frames.len()
        );
    }
}

/// Every packet out, each on the queue of the worker the hash picks, per
/// flow in order; per-worker counters as the hash predicts.
fn rps_spreads_by_hash(n: usize, local_fast_path: bool, symmetric: bool) {
    rps_spreads_by(n, local_fast_path, symmetric, "software", &[]);
}

/// [`rps_spreads_by_hash`] with `rps.hash = hash`: net_pcap supplies no
/// RSS hash, so "auto" must fall back to the software hash. `map` is the
/// rps map as worker indices (empty: every worker once).
fn rps_spreads_by(n: usize, local_fast_path: bool, symmetric: bool, hash: &str, map: &[usize]) {
    const MAX_BACKLOG: u64 = 4096;
    let mut s = worker_setup(
        &format!(
            "rps_{hash}_{n}w_lfp{local_fast_path}_sym{symmetric}_map{}",
            map.len()
        ),
        n,
    );
    let all: Vec<usize> = (0..n).collect();
    let map = if map.is_empty() { &all[..] } else { map };
    let map_lcores: Vec<String> = map.iter().map(|i| (i + 1).to_string()).collect();
    let target = |frame: &[u8], symmetric: bool| map[target(frame, map.len(), symmetric)];
    let (input, flows) = many_flows(256, 20);
    s.port("a", mac(MAC_A), &input);
    s.port("b", mac(MAC_B), &[]).tx_queues = n;
    s.extra = format!(
        "[rps]\nenabled = true\nhash = \"{hash}\"\nmax_backlog = {MAX_BACKLOG}\n\
         local_fast_path = {local_fast_path}\nsymmetric = {symmetric}\n\
         workers = [{}]\n\n\
         [forward]\nmode = \"l2\"\n\n[[forward.l2]]\ninput = \"a\"\noutput = \"b\"\n",
        map_lcores.join(", ")
    );

    let flow_target: Vec<usize> = flows.iter().map(|f| target(&f[0], symmetric)).collect();
    let mut want = vec![0u64; n];
    for fr in &input {
        want[target(fr, symmetric)] += 1;
    }
    // The symmetric and the plain hash must disagree on some flows, or
    // this run could not tell which one napifwd used.
    assert!(
        flows
            .iter()
            .any(|f| target(&f[0], true) != target(&f[0], false)),
        "test premise: some flow must move between the two hashes"
    );
    // The test's premises: every worker gets work, and no backlog can
    // overflow even if its worker only ran after the whole pcap was read.
    assert!(want.iter().all(|&c| c > 0), "hash premise: {want:?}");
    assert!(want.iter().all(|&c| c <= MAX_BACKLOG), "{want:?}");

    let r = s.replay();
    let st = &r.stats;
    let lcores: Vec<u64> = (1..=n as u64).collect();
    st.assert_workers(&lcores);
    st.assert_drops(&[]);
    assert_eq!(st.total("rx_packets"), input.len() as u64);
    assert_eq!(st.total("tx_packets"), input.len() as u64);

    assert_flows_on_expected_queues(&s.output_by_queue("b"), &flows, |f| flow_target[f]);

    let got: Vec<u64> = (0..n).map(|i| w(st, i, "processed")).collect();
    assert_eq!(
        got, want,
        "workers[].processed (left: napifwd, right: computed from the flow hash)"
    );
    let tx: Vec<u64> = (0..n).map(|i| w(st, i, "tx_packets")).collect();
    assert_eq!(tx, want, "workers[].tx_packets");
    // Worker 0 polls the only RX queue and steers everything.
    assert_eq!(w(st, 0, "rx_packets"), input.len() as u64);
    let remote: u64 = want[1..].iter().sum();
    let (sent0, recv0) = if local_fast_path {
        (remote, 0)
    } else {
        (input.len() as u64, want[0])
    };
    assert_eq!(w(st, 0, "rps_sent"), sent0, "workers[0].rps_sent");
    assert_eq!(w(st, 0, "rps_received"), recv0, "workers[0].rps_received");
    for (i, &c) in want.iter().enumerate().skip(1) {
        assert_eq!(w(st, i, "rx_packets"), 0, "workers[{i}].rx_packets");
        assert_eq!(w(st, i, "rps_sent"), 0, "workers[{i}].rps_sent");
        assert_eq!(w(st, i, "rps_received"), c, "workers[{i}].rps_received");
        assert!(
            w(st, i, "backlog_high_water") <= MAX_BACKLOG,
            "workers[{i}].backlog_high_water above max_backlog"
        );
    }
    st.assert_balanced();
    st.assert_ports_consistent(&["a", "b"]);
    st.assert_no_mbuf_leak();
    eprintln!(
        "rps {n} workers, local_fast_path {local_fast_path}, symmetric {symmetric}: \
         processed per worker {got:?}"
    );
}

#[test]
fn rps_two_workers_process_what_the_hash_says() {
    rps_spreads_by_hash(2, true, true);
}

#[test]
fn rps_three_workers_process_what_the_hash_says() {
    rps_spreads_by_hash(3, true, true);
}

#[test]
fn rps_without_local_fast_path_goes_through_the_own_backlog() {
    rps_spreads_by_hash(2, false, true);
}

#[test]
fn rps_asymmetric_hash_when_symmetric_is_off() {
    rps_spreads_by_hash(3, true, false);
}

#[test]
fn rps_auto_hash_falls_back_to_software_without_rss() {
    rps_spreads_by(2, true, true, "auto", &[]);
}

/// A map of the RX worker alone: every packet stays on it, inline with the
/// local fast path (the whole burst at once, no step per packet) or
/// through its own backlog without; the other worker gets nothing. Every
/// packet out, in order, on worker 0's TX queue, counters to match.
fn rps_map_of_the_rx_worker_alone(local_fast_path: bool) {
    let mut s = worker_setup(&format!("rps_self_map_lfp{local_fast_path}"), 2);
    let (input, flows) = many_flows(64, 10);
    s.port("a", mac(MAC_A), &input);
    s.port("b", mac(MAC_B), &[]).tx_queues = 2;
    s.extra = format!(
        "[rps]\nenabled = true\nhash = \"software\"\nmax_backlog = 4096\n\
         local_fast_path = {local_fast_path}\nworkers = [1]\n\n\
         [forward]\nmode = \"l2\"\n\n[[forward.l2]]\ninput = \"a\"\noutput = \"b\"\n"
    );
    let r = s.replay();
    let st = &r.stats;
    let n = input.len() as u64;
    st.assert_workers(&[1, 2]);
    st.assert_drops(&[]);
    assert_eq!(st.total("tx_packets"), n);
    assert_flows_on_expected_queues(&s.output_by_queue("b"), &flows, |_| 0);
    let (sent, received) = if local_fast_path { (0, 0) } else { (n, n) };
    for (key, want) in [
        ("rx_packets", n),
        ("processed", n),
        ("tx_packets", n),
        ("rps_sent", sent),
        ("rps_received", received),
    ] {
        assert_eq!(w(st, 0, key), want, "workers[0].{key}");
    }
    for key in ["rx_packets", "processed", "rps_received"] {
        assert_eq!(w(st, 1, key), 0, "workers[1].{key}");
    }
    st.assert_balanced();
    st.assert_ports_consistent(&["a", "b"]);
    st.assert_no_mbuf_leak();
}

#[test]
fn rps_map_of_the_rx_worker_alone_forwards_inline() {
    rps_map_of_the_rx_worker_alone(true);
}

#[test]
fn rps_map_of_the_rx_worker_alone_without_fast_path_uses_its_backlog() {
    rps_map_of_the_rx_worker_alone(false);
}

/// A worker listed three times in the rps map gets three shares: the RX
/// worker (listed once) keeps about a quarter, as `benches/rps.sh`'s
/// weighted scenario uses it to take load off the RX worker.
#[test]
fn rps_weighted_map_gives_a_worker_listed_three_times_three_shares() {
    rps_spreads_by(2, true, true, "software", &[0, 1, 1, 1]);
}

/// Two workers, worker 0 (lcore 1) polls input port "a" and steers
/// everything to worker 1 (lcore 2) with `rps.workers = [2]`.
fn steer_all_setup(name: &str, rps: &str, per_packet_cycles: u64) -> PcapSetup {
    let mut s = worker_setup(name, 2);
    s.extra = format!(
        "[[workers.rx]]\nport = \"a\"\nqueue = 0\nlcore = 1\n\n\
         [rps]\nenabled = true\nworkers = [2]\nhash = \"software\"\n{rps}\n\n\
         [bench]\nper_packet_cycles = {per_packet_cycles}\n\n\
         [forward]\nmode = \"l2\"\n\n[[forward.l2]]\ninput = \"a\"\noutput = \"b\"\n"
    );
    s
}

/// Frames of `flows`, in input order: what came out must be, per flow, an
/// in-order subsequence. Returns how many frames of each flow came out.
fn assert_per_flow_subsequence(out: &[Vec<u8>], flows: &[Vec<Vec<u8>>]) -> Vec<usize> {
    let mut index: HashMap<&[u8], (usize, usize)> = HashMap::new();
    for (f, frames) in flows.iter().enumerate() {
        for (i, fr) in frames.iter().enumerate() {
            assert!(index.insert(fr, (f, i)).is_none(), "frames are not unique");
        }
    }
    let mut last: Vec<Option<usize>> = vec![None; flows.len()];
    let mut count = vec![0usize; flows.len()];
    for (n, fr) in out.iter().enumerate() {
        let &(f, i) = index
            .get(fr.as_slice())
            .unwrap_or_else(|| panic!("output frame {n} is no input frame: {}", hex_head(fr, 64)));
        if let Some(prev) = last[f] {
            assert!(
                i > prev,
                "output frame {n}: flow {f} frame {i} after its frame {prev} (reordered or duplicated)"
            );
        }
        last[f] = Some(i);
        count[f] += 1;
    }
    count
}

#[test]
fn tiny_backlog_under_flood_drops_backlog_full_and_balances() {
    const MAX_BACKLOG: u64 = 8;
    let mut s = steer_all_setup(
        "rps_tiny_backlog",
        &format!("max_backlog = {MAX_BACKLOG}"),
        20_000,
    );
    let (input, flows) = many_flows(64, 100);
    s.port("a", mac(MAC_A), &input);
    s.port("b", mac(MAC_B), &[]).tx_queues = 2;
    let r = s.replay();
    let st = &r.stats;

    let total = input.len() as u64;
    let full = st.drop_count("backlog_full");
    let tx = st.total("tx_packets");
    assert_eq!(st.total("rx_packets"), total, "every input frame was read");
    assert!(
        full > 0,
        "a flood of {total} packets into a backlog of {MAX_BACKLOG} behind a worker that spends \
         20000 cycles per packet dropped nothing as backlog_full\n{:#}",
        st.json
    );
    st.assert_drops(&[("backlog_full", full)]);
    assert_eq!(tx + full, total, "tx + backlog_full != rx");
    assert_eq!(w(st, 0, "dropped_by_reason/backlog_full"), full);
    assert_eq!(w(st, 0, "processed"), 0, "worker 0 steers everything away");
    assert_eq!(w(st, 0, "rps_sent"), tx, "workers[0].rps_sent");
    assert_eq!(w(st, 1, "rps_received"), tx, "workers[1].rps_received");
    assert_eq!(w(st, 1, "processed"), tx, "workers[1].processed");
    assert!(
        w(st, 1, "backlog_high_water") <= MAX_BACKLOG,
        "workers[1].backlog_high_water {} above max_backlog {MAX_BACKLOG}",
        w(st, 1, "backlog_high_water")
    );
    let queues = s.output_by_queue("b");
    assert!(queues[0].is_empty(), "worker 0 transmitted");
    assert_eq!(queues[1].len() as u64, tx, "frames in worker 1's tx_pcap");
    assert_per_flow_subsequence(&queues[1], &flows);
    st.assert_balanced();
    st.assert_ports_consistent(&["a", "b"]);
    st.assert_no_mbuf_leak();
    eprintln!("tiny backlog: {total} in, {tx} out, backlog_full {full}");
}

#[test]
fn flow_limit_drops_the_elephant_not_the_mice() {
    const MAX_BACKLOG: u32 = 2048;
    const TABLE: u32 = 4096;
    const MICE: u32 = 1000;
    const MOUSE_PACKETS: u32 = 2;
    const EVERY: u32 = 50; // one mouse packet per EVERY packets
    let mut s = steer_all_setup(
        "rps_flow_limit",
        &format!("max_backlog = {MAX_BACKLOG}\nflow_limit = true\nflow_limit_table_len = {TABLE}"),
        5_000,
    );
    let elephant = |i: u32| {
        let mut data = i.to_be_bytes().to_vec();
        data.extend_from_slice(&filler(i, 18));
        let ip = Ipv4::udp("192.0.2.1", "198.18.0.1", 7777, 5001, &data).with_id(i as u16);
        Frame::ipv4(mac(MAC_A), mac(PEER), &ip).bytes()
    };
    let bucket = |fr: &[u8]| flow_hash(fr) & (TABLE - 1);
    let elephant_bucket = bucket(&elephant(0));
    // Mice whose flow-limit bucket is the elephant's would be limited with
    // it (the kernel's table has the same property): leave them out.
    let mut mice: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut m = 0u32;
    while mice.len() < MICE as usize {
        let mouse = |k: u32| {
            let mut data = k.to_be_bytes().to_vec();
            data.extend_from_slice(&filler(m << 8 | k, 18));
            let src = format!("10.1.{}.{}", m / 250, 1 + m % 250);
            let ip = Ipv4::udp(&src, "198.18.0.2", 20_000 + (m % 1000) as u16, 53, &data);
            Frame::ipv4(mac(MAC_A), mac(PEER), &ip).bytes()
        };
        let frames: Vec<Vec<u8>> = (0..MOUSE_PACKETS).map(mouse).collect();
        if bucket(&frames[0]) != elephant_bucket {
            mice.push(frames);
        }
        m += 1;
    }
    let mut input = Vec::new();
    let mut elephant_frames = Vec::new();
    let mut next_mouse = (0usize, 0usize);
    let total = MICE * MOUSE_PACKETS * EVERY;
    for i in 0..total {
        if i % EVERY == 0 {
            let (k, f) = next_mouse;
            input.push(mice[f][k].clone());
            next_mouse = if f + 1 == mice.len() {
                (k + 1, 0)
            } else {
                (k, f + 1)
            };
        } else {
            let fr = elephant(i);
            elephant_frames.push(fr.clone());
            input.push(fr);
        }
    }
    s.port("a", mac(MAC_A), &input);
    s.port("b", mac(MAC_B), &[]).tx_queues = 2;
    let r = s.replay();
    let st = &r.stats;

    let mut flows = vec![elephant_frames.clone()];
    flows.extend(mice.iter().cloned());
    let queues = s.output_by_queue("b");
    assert!(queues[0].is_empty(), "worker 0 transmitted");
    let per_flow = assert_per_flow_subsequence(&queues[1], &flows);
    let elephant_out = per_flow[0] as u64;
    let mice_out: u64 = per_flow[1..].iter().map(|&c| c as u64).sum();
    let mice_in = u64::from(MICE * MOUSE_PACKETS);
    let elephant_in = elephant_frames.len() as u64;
    let limited = st.drop_count("flow_limit");
    let full = st.drop_count("backlog_full");
    eprintln!(
        "flow limit: elephant {elephant_out}/{elephant_in} delivered, mice {mice_out}/{mice_in}; \
         drops flow_limit {limited} backlog_full {full}"
    );
    assert_eq!(st.total("rx_packets"), u64::from(total));
    assert!(
        limited > 0,
        "the elephant ({} of every {EVERY} packets) never hit the flow limit\n{:#}",
        EVERY - 1,
        st.json
    );
    assert_eq!(w(st, 0, "flow_limited"), limited, "workers[0].flow_limited");
    assert!(elephant_out < elephant_in, "the elephant lost nothing");
    // Every lost mouse must be a backlog_full drop (a full ring hits
    // everyone); none may have been taken by the flow limit.
    let mice_lost = mice_in - mice_out;
    assert!(
        mice_lost <= full,
        "{mice_lost} mouse packets lost but only {full} backlog_full drops: the flow limit \
         dropped mice"
    );
    assert!(
        mice_lost * 100 <= mice_in,
        "{mice_lost} of {mice_in} mouse packets lost (backlog_full {full}): the flow limit \
         should keep the backlog from filling"
    );
    st.assert_balanced();
    st.assert_no_mbuf_leak();
}

/// The kernel-peer trickle: a python AF_PACKET sender in a network
/// namespace sends `frames` through a veth pair, `gap_ms` apart, and
/// prints the wall-clock time each one left.
const SENDER: &str = "import socket, sys, time\n\
    iface, path, gap = sys.argv[1], sys.argv[2], float(sys.argv[3]) / 1000.0\n\
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n\
    s.bind((iface, 0))\n\
    for line in open(path):\n\
    \x20   s.send(bytes.fromhex(line.strip()))\n\
    \x20   print(repr(time.time()), flush=True)\n\
    \x20   time.sleep(gap)\n";

#[test]
fn park_idle_delivers_a_sparse_trickle_from_a_kernel_peer_and_counts_kicks() {
    const N: usize = 200;
    const GAP_MS: u32 = 5;
    let veth = VethNs::new("pk");
    let mut rig = Rig::new("rps_park_trickle");
    let frames: Vec<Vec<u8>> = (0..N as u32)
        .map(|i| {
            let mut data = b"napifwd-e2e-trickle".to_vec();
            data.extend_from_slice(&i.to_be_bytes());
            let ip = Ipv4::udp("192.0.2.9", "198.18.0.9", 3000 + (i % 4) as u16, 9, &data)
                .with_id(i as u16);
            Frame::ipv4(mac(MAC_A), mac(PEER), &ip).bytes()
        })
        .collect();
    let hex_path = rig.dir.join("trickle.hex");
    let mut f = std::fs::File::create(&hex_path).expect("create trickle.hex");
    for fr in &frames {
        writeln!(f, "{}", hex(fr).replace(' ', "")).expect("write trickle.hex");
    }
    drop(f);
    pcapio::write_pcap(&rig.dir.join("empty.pcap"), &[]);
    let out_q: Vec<String> = (0..2)
        .map(|q| rig.file(&format!("out-q{q}.pcap")))
        .collect();
    rig.config = format!(
        "{}\n\
         [[ports]]\nname = \"in\"\ndevice = \"net_af_packet0,iface={}\"\n\n\
         [[ports]]\nname = \"out\"\ndevice = \"net_pcap0,rx_pcap={},tx_pcap={},tx_pcap={}\"\n\
         mac = \"{MAC_B}\"\n\n\
         [workers]\nlcores = [1, 2]\n\n\
         [[workers.rx]]\nport = \"in\"\nqueue = 0\nlcore = 1\n\n\
         [napi]\nidle = \"park\"\npark_after_rounds = 64\nmax_sleep_us = 1000\n\n\
         [rps]\nenabled = true\nworkers = [2]\nhash = \"software\"\n\n\
         [forward]\nmode = \"l2\"\n\n[[forward.l2]]\ninput = \"in\"\noutput = \"out\"\n\n\
         [metrics]\nlisten = \"\"\n",
        eal_for_workers(2),
        veth.host_if,
        rig.file("empty.pcap"),
        out_q[0],
        out_q[1],
    );
    let (guard, running) = rig.spawn(&[]);
    // Ports are up before workers start: once both workers run, the
    // AF_PACKET socket is bound and the kernel hands it what arrives.
    rig::wait_for_worker(&running, 0);
    rig::wait_for_worker(&running, 1);
    let sent = veth
        .command("python3")
        .args([
            "-c",
            SENDER,
            &veth.peer_if,
            &hex_path.display().to_string(),
            &GAP_MS.to_string(),
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run the sender in the namespace");
    assert!(
        sent.status.success(),
        "sender failed: {}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let sent_at: Vec<f64> = String::from_utf8_lossy(&sent.stdout)
        .lines()
        .map(|l| l.parse().expect("sender timestamp"))
        .collect();
    assert_eq!(sent_at.len(), N, "the sender sent every frame");
    // Everything sent is delivered within a bound: poll worker 1's TX file.
    let q1 = rig.dir.join("out-q1.pcap");
    let delivered = std::panic::catch_unwind(|| {
        rig::wait_for(
            "every trickle frame in worker 1's tx_pcap",
            Duration::from_secs(10),
            || (rig::pcap_frames_so_far(&q1) >= N).then_some(()),
        )
    });
    running.signal("TERM");
    let output = running.wait(RUN_TIMEOUT);
    drop(guard);
    let r = rig.finish(output);
    let st = &r.stats;
    let timed = rig::read_pcap_timed(&q1);
    let got: Vec<Vec<u8>> = timed.iter().map(|(_, f)| f.clone()).collect();
    // Only the test's frames may come out (IPv6 is off on both veth ends).
    assert_frames_eq("out (worker 1's queue)", &got, &frames);
    // Sender's clock to net_pcap's TX stamp. net_pcap derives its stamps
    // from the TSC and a wall-clock reading at start, so the two clocks
    // are offset by a constant: report each frame's delay above the
    // smallest one (how long RX of a parked worker and the wake-up of the
    // other took), for the record only.
    let delays: Vec<f64> = timed
        .iter()
        .zip(&sent_at)
        .map(|((t, _), s)| (t - s) * 1000.0)
        .collect();
    let min = delays.iter().copied().fold(f64::INFINITY, f64::min);
    let mut extra: Vec<f64> = delays.iter().map(|d| d - min).collect();
    eprintln!(
        "park: delay above the fastest frame: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms \
         (max_sleep_us = 1000)",
        rig::quantile(&mut extra, 0.5),
        rig::quantile(&mut extra, 0.99),
        rig::quantile(&mut extra, 1.0)
    );
    assert!(
        delivered.is_ok(),
        "only {} of {N} frames delivered within 10 s",
        got.len()
    );
    assert!(pcapio::read_pcap(&rig.dir.join("out-q0.pcap")).is_empty());
    st.assert_drops(&[]);
    assert_eq!(st.total("rx_packets"), N as u64);
    assert_eq!(w(st, 1, "processed"), N as u64);
    assert_eq!(w(st, 1, "rps_received"), N as u64);
    let (parks, kicks) = (w(st, 1, "parks"), w(st, 1, "kicks"));
    eprintln!(
        "park: worker 1 parks {parks} kicks {kicks}; worker 0 parks {}",
        w(st, 0, "parks")
    );
    assert!(
        parks > 0,
        "workers[1].parks == 0 with a packet every {GAP_MS} ms"
    );
    assert!(
        kicks > 0,
        "workers[1].kicks == 0: worker 0 never woke the parked worker 1"
    );
    assert!(w(st, 0, "parks") > 0, "workers[0].parks == 0");
    st.assert_balanced();
    st.assert_no_mbuf_leak();
}

/// No packet may be lost because its worker has not started yet: RX must
/// not begin before every worker runs. With SCHED_FIFO workers
/// (`workers.fifo_priority`) and worker 0 on the main lcore's CPU (a
/// 2-core machine has no other choice), the main lcore, which launches the
/// workers one after the other, only gets the CPU back when the kernel
/// throttles the FIFO poller, about a second later. The backlog
/// (`max_backlog` 16384) holds most of the input, and worker 1, once
/// running, forwards far faster than the rest needs (the same replay
/// without SCHED_FIFO loses nothing): no drop is acceptable.
#[test]
fn fifo_workers_lose_nothing_at_start_up() {
    const MAX_BACKLOG: usize = 16_384;
    let mut s = steer_all_setup(
        "rps_fifo_start_up",
        &format!("max_backlog = {MAX_BACKLOG}"),
        0,
    );
    s.workers_extra = "fifo_priority = 10\n".to_owned();
    let (input, _) = many_flows(64, 375);
    assert!(input.len() > MAX_BACKLOG);
    s.port("a", mac(MAC_A), &input);
    s.port("b", mac(MAC_B), &[]).tx_queues = 2;
    let r = s.replay();
    let st = &r.stats;
    eprintln!(
        "fifo start-up: {} in, {} out, drops {:?}",
        input.len(),
        st.total("tx_packets"),
        st.drops()
    );
    st.assert_balanced();
    st.assert_no_mbuf_leak();
    assert_eq!(st.total("rx_packets"), input.len() as u64);
    st.assert_drops(&[]);
    let queues = s.output_by_queue("b");
    assert_frames_eq("b (worker 1's queue)", &queues[1], &input);
}

/// A worker whose switch to SCHED_FIFO fails after the control plane's
/// own check passed (test-only `NAPIFWD_TEST_SCHED_FAIL=ID`: worker ID's
/// switch fails with EPERM) has returned without polling: the run stops
/// at once and fails naming the worker and the reason. Before, napifwd ran
/// on without that worker until its duration ended, and said only "exited
/// with 3".
#[test]
fn a_worker_that_cannot_switch_to_fifo_stops_the_run_with_the_reason() {
    let mut s = steer_all_setup("rps_fifo_fails", "max_backlog = 1000", 0);
    s.workers_extra = "fifo_priority = 10\n".to_owned();
    let (input, _) = many_flows(16, 8);
    s.port("a", mac(MAC_A), &input);
    s.port("b", mac(MAC_B), &[]).tx_queues = 2;
    let out = {
        let _guard = dpdk_lock();
        spawn_napifwd_env(
            s.run_args(&["--duration", "600"]),
            s.dir.path(),
            &[("NAPIFWD_TEST_SCHED_FAIL", "1")],
        )
        .wait(Duration::from_secs(60))
    };
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    assert!(
        out.stderr.contains(
            "napifwd: worker 1 (lcore 2) could not switch to SCHED_FIFO: Operation not permitted"
        ),
        "{}",
        out.describe()
    );
    assert!(
        out.elapsed < Duration::from_secs(30),
        "stopped only after {:?}",
        out.elapsed
    );
}
