//! The per-burst forwarding step: decide each packet's fate, rewrite it in
//! place, and buffer it for TX or collect it for a bulk free.
//!
//! Decisions are values: `Ok(output port)` or `Err(DropReason)`; the caller
//! counts the reason where the decision is made, like the kernel's
//! `kfree_skb_reason`.

use super::{Io, BURST};
use crate::dpdk::{cycles, os, Mbuf, MbufBurst, RxTscField, TxQueue};
use crate::drop_reason::DropReason;
use crate::fwd::l2::{self, Xconnect};
use crate::fwd::l3::{self, Family};
use crate::plan::{L3Tables, Mode, Plan};
use crate::stats::WorkerCounters;
use crate::wire::ethernet::EthernetFrame;
use crate::wire::MacAddr;

/// Ethernet header length.
const ETH_HLEN: usize = EthernetFrame::<&[u8]>::HEADER_LEN;

impl Io {
    /// Forwards every packet in `self.burst`. `in_port` is the input port
    /// when the whole burst came from one RX queue (l2 then looks its
    /// cross-connect up once per burst); `None` for backlog bursts, whose
    /// packets may come from several ports.
    ///
    /// `prefetch_ahead`: for bursts from another core, how many mbufs
    /// ahead to prefetch (0 for what this core just received).
    #[inline(always)]
    pub(super) fn forward_burst(&mut self, in_port: Option<usize>, prefetch_ahead: usize) {
        let Io {
            tx,
            txbufs,
            plan,
            counters,
            burst,
            drops,
            per_packet_cycles,
            reclaim,
            latency,
            ..
        } = self;
        let plan: &Plan = plan;
        counters.processed.add(burst.len() as u64);
        if *per_packet_cycles > 0 {
            os::spin_cycles(*per_packet_cycles * burst.len() as u64);
        }
        let burst_xc = match (&plan.mode, in_port) {
            (Mode::L2(x), Some(p)) => x.lookup(p),
            _ => None,
        };
        if let Some(xc) = burst_xc {
            // What passes goes out on one port: to its TX buffer in whole
            // copies, flushed as it fills.
            let out = xc.output;
            l2_burst_in_place(burst, drops, counters, plan, xc);
            while !burst.is_empty() {
                let Some(buf) = txbufs.get_mut(out) else {
                    // As for one packet below: no buffer, no route.
                    for m in burst.drain() {
                        count_drop(counters, drops, m, DropReason::NoRoute);
                    }
                    break;
                };
                buf.append_from(burst);
                if buf.is_full() {
                    flush(tx, txbufs, counters, *latency, out);
                    if txbufs.get(out).is_some_and(MbufBurst::is_full) {
                        // No TX queue took them (none on this port): what
                        // cannot be buffered is dropped, as below.
                        counters.drop_n(DropReason::TxFull, burst.len() as u64);
                        burst.free_all();
                    }
                }
            }
            reclaim.release(drops, counters);
            return;
        }
        for mut m in burst.drain_prefetching(prefetch_ahead) {
            let verdict = match &plan.mode {
                Mode::L3(t) => route_l3(&mut m, plan, t),
                Mode::L2(x) => {
                    let xc = plan.port_index(m.port()).and_then(|p| x.lookup(p));
                    route_l2(&mut m, plan, xc)
                }
            };
            match verdict {
                Ok(out) => match txbufs.get_mut(out) {
                    Some(buf) => {
                        // The buffer is flushed as soon as it fills, so there is
                        // always room here.
                        if let Err(m) = buf.push(m) {
                            counters.drop_one(DropReason::TxFull);
                            drop(m);
                        }
                        if buf.is_full() {
                            flush(tx, txbufs, counters, *latency, out);
                        }
                    }
                    None => count_drop(counters, drops, m, DropReason::NoRoute),
                },
                Err(r) => count_drop(counters, drops, m, r),
            }
        }
        reclaim.release(drops, counters);
    }
}

/// Counts a drop and parks the mbuf for the bulk free at the end of the burst.
#[inline(always)]
pub(super) fn count_drop(
    counters: &WorkerCounters,
    drops: &mut MbufBurst<BURST>,
    m: Mbuf,
    r: DropReason,
) {
    counters.drop_one(r);
    if let Err(m) = drops.push(m) {
        // Cannot happen (drops holds at most one burst); freeing singly is correct anyway.
        drop(m);
    }
}

/// Sends port `p`'s TX buffer once; what the queue refuses is freed and
/// counted `tx_full`.
#[inline(always)]
pub(super) fn flush(
    tx: &mut [Option<TxQueue>],
    txbufs: &mut [MbufBurst<BURST>],
    counters: &WorkerCounters,
    latency: Option<RxTscField>,
    p: usize,
) {
    let (Some(Some(txq)), Some(buf)) = (tx.get_mut(p), txbufs.get_mut(p)) else {
        return;
    };
    // Read before the send (the mbufs are the PMD's after it), counted
    // after it: only what was sent.
    let age = latency.and_then(|field| burst_age(buf, field));
    let (sent, freed) = txq.send_or_free(buf);
    counters.tx_packets.add(sent as u64);
    if let Some(age) = age.filter(|_| sent > 0) {
        counters.latency.record_n(age, sent as u64);
    }
    if freed > 0 {
        counters.drop_n(DropReason::TxFull, freed as u64);
    }
}

/// The age of a TX burst's packets as they leave: the age of its oldest
/// packet (the first: buffers fill in arrival order), recorded once per
/// packet sent. One dynfield load per TX burst instead of one per packet
/// (which cost about 6 cycles per packet on the l2 benchmark); each packet
/// is counted at its burst's oldest age, so the percentiles are upper
/// bounds by at most the time the burst took to fill. Packets the TX queue
/// refused (`tx_full`) are not counted: the histogram's count is what left.
#[inline(always)]
fn burst_age(buf: &MbufBurst<BURST>, field: RxTscField) -> Option<u64> {
    let first = buf.as_slice().first()?;
    Some(cycles::rdtsc().saturating_sub(field.get(first)))
}

/// L3: RFC 1812 checks, LPM lookup, MTU check, padding trim, rewrite.
/// Each family takes its own path from the ethertype on (see
/// [`l3::family`]).
#[inline(always)]
fn route_l3(m: &mut Mbuf, plan: &Plan, t: &L3Tables) -> Result<usize, DropReason> {
    let pkt_len = m.pkt_len() as usize;
    match l3::family(m.data())? {
        Family::V4 => {
            let verify = plan.verify_ipv4_checksum && !m.ip_cksum_good();
            let (dst, frame_len) = l3::classify_v4(m.data(), pkt_len, verify)?;
            let nh = t.lookup4(dst);
            send_routed(m, plan, t, nh, frame_len, l3::rewrite_v4)
        }
        Family::V6 => {
            let (dst, frame_len) = l3::classify_v6(m.data(), pkt_len)?;
            let nh = t.lookup6(&dst);
            send_routed(m, plan, t, nh, frame_len, l3::rewrite_v6)
        }
    }
}

/// The rest of [`route_l3`] once the next hop is looked up: output port,
/// MTU, padding trim and `rewrite`.
#[inline(always)]
fn send_routed(
    m: &mut Mbuf,
    plan: &Plan,
    t: &L3Tables,
    nh: Option<u32>,
    frame_len: usize,
    rewrite: fn(&mut [u8], MacAddr, MacAddr),
) -> Result<usize, DropReason> {
    let nh = nh.ok_or(DropReason::NoRoute)?;
    let hop = t.next_hops.get(nh as usize).ok_or(DropReason::NoRoute)?;
    let out = plan.ports.get(hop.port).ok_or(DropReason::NoRoute)?;
    if frame_len - ETH_HLEN > usize::from(out.mtu) {
        return Err(DropReason::MtuExceeded);
    }
    // Ethernet pads short frames to 60 bytes, and any frame may carry
    // bytes after the datagram (a trailer, a kept CRC): they are not part
    // of the datagram and must not leave as payload.
    if frame_len < m.pkt_len() as usize && !m.truncate(frame_len as u32) {
        return Err(DropReason::Unsupported);
    }
    let data = m.data_mut().ok_or(DropReason::Unsupported)?;
    rewrite(data, hop.mac, out.mac);
    Ok(hop.port)
}

/// L2 for a burst from one RX queue, whose packets all take the same
/// cross-connect `xc`: checked and rewritten in place ([`route_l2`] for
/// each), what fails counted and moved to `drops`, what passes left in
/// `burst`, in order, for one copy to the TX buffer (testpmd's mac mode
/// works on the burst array the same way).
#[inline(always)]
fn l2_burst_in_place(
    burst: &mut MbufBurst<BURST>,
    drops: &mut MbufBurst<BURST>,
    counters: &WorkerCounters,
    plan: &Plan,
    xc: &Xconnect,
) {
    burst.retain_owned(|mut m| match route_l2(&mut m, plan, Some(xc)) {
        Ok(_) => Some(m),
        Err(r) => {
            count_drop(counters, drops, m, r);
            None
        }
    });
}

/// L2: cross-connect to the paired port, optional MAC rewrite, MTU check.
#[inline(always)]
fn route_l2(m: &mut Mbuf, plan: &Plan, xc: Option<&Xconnect>) -> Result<usize, DropReason> {
    l2::check(m.data())?;
    let xc = xc.ok_or(DropReason::NoRoute)?;
    let out = plan.ports.get(xc.output).ok_or(DropReason::NoRoute)?;
    if m.pkt_len() as usize - ETH_HLEN > usize::from(out.mtu) {
        return Err(DropReason::MtuExceeded);
    }
    if xc.dst_mac.is_some() || xc.src_mac.is_some() {
        let data = m.data_mut().ok_or(DropReason::Unsupported)?;
        l2::rewrite(data, xc);
    }
    Ok(xc.output)
}
