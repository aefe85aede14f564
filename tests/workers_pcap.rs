//! More than one worker: each worker has its own TX queue on every port
//! (net_pcap gives a port one TX queue per `tx_pcap` file), so the output of
//! a port is split by worker. What must hold: every packet comes out exactly
//! once; all packets of one flow are handled by one worker, so they share a
//! queue and keep their order; the per-worker counters add up; no mbuf leaks
//! even when one worker frees mbufs another worker's pool owns.
//!
//! Two workers share CPU 1 (`eal.lcores = "0@0,1@1,2@1"`): the machine has
//! two cores.

mod common;

use common::packet::*;
use common::*;

const MAC_A: &str = "02:00:00:00:00:0a";
const MAC_B: &str = "02:00:00:00:00:0b";
const MAC_C: &str = "02:00:00:00:00:0c";
const PEER: &str = "02:00:00:00:99:01";

fn two_worker_setup(name: &str) -> PcapSetup {
    let mut s = PcapSetup::new(name);
    s.eal = eal_section_two_workers();
    s.workers = vec![1, 2];
    s
}

/// `flows` UDP flows of `per_flow` packets each, interleaved round-robin;
/// returns the input frames and, per flow, its frames in order.
fn udp_flows(dst: Mac, flows: u16, per_flow: u32) -> (Vec<Vec<u8>>, Vec<Vec<Vec<u8>>>) {
    let mut input = Vec::new();
    let mut by_flow = vec![Vec::new(); usize::from(flows)];
    for i in 0..per_flow {
        for f in 0..flows {
            let mut data = i.to_be_bytes().to_vec();
            data.extend_from_slice(&filler(
                u32::from(f) << 16 | i,
                20 + (i as usize * 37) % 400,
            ));
            let ip =
                Ipv4::udp("192.0.2.1", "198.18.0.1", 10_000 + f, 4791, &data).with_id(i as u16);
            let frame = Frame::ipv4(dst, mac(PEER), &ip).bytes();
            by_flow[usize::from(f)].push(frame.clone());
            input.push(frame);
        }
    }
    (input, by_flow)
}

fn worker_sum(stats: &Stats, key: &str) -> u64 {
    (0..2)
        .map(|w| stats.u64_at(&format!("/workers/{w}/{key}")))
        .sum()
}

#[test]
fn two_workers_keep_each_input_in_order_on_their_own_tx_queue() {
    let mut s = two_worker_setup("workers_two_inputs");
    let (a_in, _) = udp_flows(mac(MAC_A), 8, 250);
    let (b_in, _) = udp_flows(mac(MAC_B), 5, 400);
    s.port("a", mac(MAC_A), &a_in).tx_queues = 2;
    s.port("b", mac(MAC_B), &b_in).tx_queues = 2;
    s.port("c", mac(MAC_C), &[]).tx_queues = 2;
    s.extra = "[forward]\nmode = \"l2\"\n\n\
               [[forward.l2]]\ninput = \"a\"\noutput = \"c\"\nsrc_mac = \"port\"\n\n\
               [[forward.l2]]\ninput = \"b\"\noutput = \"c\"\n"
        .to_owned();
    let r = s.replay();

    let want_a: Vec<Vec<u8>> = a_in
        .iter()
        .map(|f| {
            let mut f = f.clone();
            f[6..12].copy_from_slice(&mac(MAC_C));
            f
        })
        .collect();
    // Without RPS a port's RX queue is polled by one worker: all of its
    // input is one stream.
    assert_streams_split_by_queue("c", &s.output_by_queue("c"), &[want_a, b_in.clone()]);
    for p in ["a", "b"] {
        assert!(
            s.output_by_queue(p).iter().all(Vec::is_empty),
            "port {p} sent something"
        );
    }
    r.stats.assert_workers(&[1, 2]);
    r.stats.assert_drops(&[]);
    assert_eq!(
        r.stats.total("tx_packets"),
        (a_in.len() + b_in.len()) as u64
    );
    assert_eq!(
        worker_sum(&r.stats, "processed"),
        (a_in.len() + b_in.len()) as u64
    );
    for w in 0..2 {
        assert!(
            r.stats.u64_at(&format!("/workers/{w}/processed")) > 0,
            "worker {w} processed nothing: (port, queue) pairs are spread round-robin"
        );
    }
    r.stats.assert_balanced();
    r.stats.assert_ports_consistent(&["a", "b", "c"]);
    r.stats.assert_no_mbuf_leak();
}

#[test]
fn rps_spreads_flows_over_workers_and_keeps_each_flow_in_order() {
    let mut s = two_worker_setup("workers_rps");
    let (a_in, flows) = udp_flows(mac(MAC_A), 64, 30);
    s.port("a", mac(MAC_A), &a_in).tx_queues = 2;
    s.port("b", mac(MAC_B), &[]).tx_queues = 2;
    s.extra = "[rps]\nenabled = true\nhash = \"software\"\n\n\
               [forward]\nmode = \"l2\"\n\n[[forward.l2]]\ninput = \"a\"\noutput = \"b\"\n"
        .to_owned();
    let r = s.replay();

    let queues = s.output_by_queue("b");
    assert_streams_split_by_queue("b", &queues, &flows);
    // One RX queue, polled by one worker: the other worker only gets
    // packets through RPS, and 64 flows do not all hash to one worker.
    let sent = worker_sum(&r.stats, "rps_sent");
    let received = worker_sum(&r.stats, "rps_received");
    assert!(
        sent > 0,
        "rps.enabled = true but no packet was steered to another worker"
    );
    assert_eq!(
        sent, received,
        "rps_sent != rps_received with no backlog drops"
    );
    assert!(
        queues.iter().all(|q| !q.is_empty()),
        "one worker transmitted nothing"
    );
    r.stats.assert_drops(&[]);
    assert_eq!(r.stats.total("tx_packets"), a_in.len() as u64);
    r.stats.assert_balanced();
    r.stats.assert_ports_consistent(&["a", "b"]);
    r.stats.assert_no_mbuf_leak();
}
