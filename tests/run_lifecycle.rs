//! How a run ends: `--duration`, `--until-idle` with no traffic at all, and
//! SIGTERM / SIGINT in the middle of a replay. Every way out exits 0, writes
//! the final stats, keeps the conservation law, leaks no mbuf, and leaves
//! complete output pcaps (the ports are closed, so net_pcap flushes them).

mod common;

use std::time::{Duration, Instant};

use common::packet::*;
use common::*;

const MAC_A: &str = "02:00:00:00:00:0a";
const MAC_B: &str = "02:00:00:00:00:0b";

fn l2_pair(name: &str, a_in: &[Vec<u8>]) -> PcapSetup {
    let mut s = PcapSetup::new(name);
    s.port("a", mac(MAC_A), a_in);
    s.port("b", mac(MAC_B), &[]);
    s.extra = "[forward]\nmode = \"l2\"\n\n[[forward.l2]]\ninput = \"a\"\noutput = \"b\"\n\n\
               [[forward.l2]]\ninput = \"b\"\noutput = \"a\"\n"
        .to_owned();
    s
}

fn assert_idle_stats(r: &Replay) {
    assert_eq!(r.stats.total("rx_packets"), 0);
    assert_eq!(r.stats.total("tx_packets"), 0);
    r.stats.assert_drops(&[]);
    r.stats.assert_balanced();
    r.stats.assert_ports_consistent(&["a", "b"]);
    r.stats.assert_no_mbuf_leak();
    r.stats.assert_workers(&[1]);
}

#[test]
fn duration_ends_a_run() {
    let s = l2_pair("life_duration", &[]);
    let r = s.run_ok(&["--duration", "1"]);
    let t = r.output.elapsed;
    assert!(
        t >= Duration::from_secs(1) && t < Duration::from_secs(20),
        "--duration 1 took {t:?}"
    );
    assert_idle_stats(&r);
}

#[test]
fn until_idle_ends_a_run_that_never_sees_a_packet() {
    let s = l2_pair("life_idle_empty", &[]);
    let r = s.run_ok(&["--until-idle", "200"]);
    assert!(
        r.output.elapsed < Duration::from_secs(20),
        "took {:?}",
        r.output.elapsed
    );
    assert_idle_stats(&r);
    assert!(s.output("b").is_empty() && s.output("a").is_empty());
}

fn stop_mid_replay(signal: &str) {
    // Enough traffic that the replay is still going, or has just finished,
    // when the signal arrives; whatever napifwd had accepted by then must be
    // accounted for.
    let input: Vec<Vec<u8>> = (0..20_000u32)
        .map(|i| {
            let mut p = i.to_be_bytes().to_vec();
            p.extend_from_slice(&filler(i, 200));
            Frame::new(mac(MAC_B), mac(MAC_A), 0x88b5, p).bytes()
        })
        .collect();
    let s = l2_pair(&format!("life_sig{signal}"), &input);
    let output = {
        let _guard = dpdk_lock();
        let running = spawn_napifwd(s.run_args(&["--duration", "60"]), s.dir.path());
        // Forwarding has started once net_pcap has flushed its first
        // buffer of output to the file (well before 20000 frames).
        let out = s.port_named("b").tx.clone();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::fs::metadata(&out).map_or(0, |m| m.len()) < 64 * 1024 {
            assert!(
                Instant::now() < deadline,
                "napifwd never started forwarding"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        running.signal(signal);
        running.wait(Duration::from_secs(30))
    };
    assert!(
        output.elapsed < Duration::from_secs(25),
        "SIG{signal} did not stop the run promptly: {:?}",
        output.elapsed
    );
    let r = s.finish(output);
    let got = s.output("b");
    assert!(!got.is_empty());
    // What came out is the start of the input, in order, complete up to
    // the stop: nothing accepted is lost or left in a TX buffer.
    assert_frames_eq("b", &got, &input[..got.len().min(input.len())]);
    assert_eq!(r.stats.total("tx_packets"), got.len() as u64);
    r.stats.assert_balanced();
    r.stats.assert_ports_consistent(&["a", "b"]);
    r.stats.assert_no_mbuf_leak();
}

#[test]
fn sigterm_stops_cleanly() {
    stop_mid_replay("TERM");
}

#[test]
fn sigint_stops_cleanly() {
    stop_mid_replay("INT");
}
