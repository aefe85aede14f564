//! RPS steering of a received burst: Linux's `get_rps_cpu` +
//! `enqueue_to_backlog`, batched.
//!
//! Each packet's flow hash picks a target through the rps map. Packets for
//! this worker are forwarded inline when `local_fast_path` is on; the others
//! are staged per target and enqueued with one burst call per target per
//! poll, then the target is kicked once if it is parked. What a full
//! backlog refuses is dropped by the producer and counted `backlog_full`; a
//! flow over its share of a more-than-half-full backlog is dropped
//! `flow_limit`. Per-flow order holds because a flow always arrives on one
//! RX queue (one producer) and always maps to one target (one FIFO ring).
//!
//! When the map sends every flow to one worker (a pipeline's RX worker,
//! or a map of the RX worker alone) and no filter has to judge packets,
//! the burst moves whole, with no step per packet: that step (the loop,
//! the checks, the copy back of the kept packets) cost 13.5 cycles per
//! packet on one core (benches/rps.sh `rps1-c0` against `rtc-c0`), 14 on
//! the pipeline's RX worker (`steer-c0`).

use super::{forward, Io};
use std::sync::atomic::Ordering;

use crate::dpdk::{cycles, Mbuf};
use crate::drop_reason::DropReason;
use crate::fwd::flow;

/// Where the flow hash comes from (`rps.hash`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashSource {
    /// The NIC's RSS hash when the PMD supplied one, else software.
    Auto,
    /// Always the software flow hash.
    Software,
}

/// The flow hash of a packet: `skb_get_hash`'s role.
#[inline(always)]
fn flow_hash(m: &Mbuf, source: HashSource, symmetric: bool) -> u32 {
    if source == HashSource::Auto {
        if let Some(h) = m.rss_hash() {
            return h;
        }
    }
    flow::frame_hash(m.data(), symmetric)
}

impl Io {
    /// Steers `self.burst` (fresh from RX queue of port `in_port`) to its
    /// target workers.
    #[inline(always)]
    pub(super) fn steer_burst(&mut self, in_port: Option<usize>) {
        let Io {
            id,
            steering,
            stage,
            flow_limits,
            counters,
            burst,
            drops,
            overload,
            refused,
            reclaim,
            filter_hot,
            adaptive,
            handed_off,
            ..
        } = self;
        let Some(st) = steering.as_ref() else {
            self.forward_burst(in_port, 0);
            return;
        };
        // rps.balance steers by the map of the split it chose.
        let map = adaptive
            .as_ref()
            .and_then(|a| a.share_map())
            .unwrap_or(&st.map);
        // A map of one worker needs no hash to pick the target; only the
        // flow limit would still want it (it tells flows apart).
        let single = map.single() && flow_limits.is_empty();
        let filtering = overload.as_ref().is_some_and(|o| o.has_filter());
        if single && !filtering {
            // Every packet of the burst has the same fate: move the burst
            // whole, with no work per packet (a pipeline's RX worker, or a
            // map of this worker alone).
            let t = map.target(0);
            if t == *id && st.local_fast_path {
                *handed_off = false;
                self.forward_burst(in_port, 0);
                return;
            }
            match stage.get_mut(t) {
                Some(stage) => stage.append_from(burst),
                None => {
                    // The map only names workers that have a stage.
                    let n = burst.len() as u64;
                    burst.free_all();
                    counters.drop_n(DropReason::BacklogFull, n);
                }
            }
            *handed_off = t != *id;
            self.enqueue_staged();
            return;
        }
        let mut away = false;
        if !filtering && flow_limits.is_empty() {
            // The common case, nothing to judge per packet but the target
            // (5 cycles per packet less than the general loop below, on
            // the RX worker of `rps2-c0`). A target without a backlog
            // needs no check here: enqueue_staged drops what it holds.
            let fast = st.local_fast_path;
            burst.retain_owned(|m| {
                let t = map.target(flow_hash(&m, st.hash, st.symmetric));
                if t == *id && fast {
                    return Some(m);
                }
                away |= t != *id;
                match stage.get_mut(t) {
                    Some(stage) => {
                        if let Err(m) = stage.push(m) {
                            forward::count_drop(counters, drops, m, DropReason::BacklogFull);
                        }
                    }
                    None => forward::count_drop(counters, drops, m, DropReason::BacklogFull),
                }
                None
            });
        } else {
            let now = cycles::rdtsc();
            // The filter also engages for a target whose backlog is already
            // above the high watermark, before its detector has confirmed the
            // overload (enter_after_us): otherwise the packets that matter are
            // tail-dropped with the rest while the detector makes up its mind.
            // One ring read per target per RX burst, only with a filter.
            if let Some(ov) = overload.as_ref().filter(|o| o.has_filter()) {
                let high = ov.high_fill();
                for (t, hot) in filter_hot.iter_mut().enumerate() {
                    *hot = match st.backlogs.get(t) {
                        Some(Some(ring)) => {
                            f64::from(ring.count()) >= high * f64::from(st.max_backlog)
                        }
                        _ => false,
                    };
                }
            }
            // This worker's own packets stay in `burst` (in order), the
            // others go to their targets' stages or are dropped.
            burst.retain_owned(|mut m| {
                let hash = if single {
                    0
                } else {
                    flow_hash(&m, st.hash, st.symmetric)
                };
                let t = map.target(hash);
                if let Some(ov) = overload.as_mut().filter(|_| filtering) {
                    let peer = st.peers.get(t).map(|p| &**p);
                    // XDP-like: judged at RX, before the packet costs anyone a
                    // backlog slot.
                    let hot = filter_hot.get(t).copied().unwrap_or(false);
                    if (hot || ov.filter_applies(peer)) && !ov.judge(&mut m, now) {
                        forward::count_drop(counters, drops, m, DropReason::Filter);
                        if let Some(n) = refused.get_mut(t) {
                            *n += 1;
                        }
                        return None;
                    }
                }
                away |= t != *id;
                if t == *id && st.local_fast_path {
                    return Some(m);
                }
                let (Some(Some(ring)), Some(stage)) = (st.backlogs.get(t), stage.get_mut(t)) else {
                    // The map only names workers that have a backlog, so this is
                    // unreachable; drop rather than panic.
                    forward::count_drop(counters, drops, m, DropReason::BacklogFull);
                    return None;
                };
                if let Some(fl) = flow_limits.get_mut(t) {
                    // skb_flow_limit, judged against the backlog as it will be
                    // once this burst's earlier packets for it are in.
                    let qlen = ring.count() + stage.len() as u32;
                    if fl.should_drop(hash, qlen, st.max_backlog) {
                        forward::count_drop(counters, drops, m, DropReason::FlowLimit);
                        return None;
                    }
                }
                if let Err(m) = stage.push(m) {
                    forward::count_drop(counters, drops, m, DropReason::BacklogFull);
                }
                None
            });
        }
        *handed_off = away;
        reclaim.release(drops, counters);
        for (t, n) in refused.iter_mut().enumerate() {
            if *n > 0 {
                if let Some(peer) = st.peers.get(t) {
                    peer.refused
                        .fetch_add(u64::from(*n), std::sync::atomic::Ordering::Relaxed);
                }
                *n = 0;
            }
        }
        self.enqueue_staged();
        if !self.burst.is_empty() {
            self.forward_burst(in_port, 0);
        }
    }

    /// One enqueue burst per target with staged packets; drops the rest.
    #[inline(always)]
    fn enqueue_staged(&mut self) {
        let Some(st) = self.steering.as_ref() else {
            return;
        };
        // The drop policy's admission limit: while a target is overloaded,
        // its backlog may only fill to (low + high watermark) / 2 x max_backlog, so
        // the packets it accepts wait a bounded time and it keeps working
        // at capacity; the excess is dropped here, counted `overload`.
        let admit = self.overload.as_ref().and_then(|o| o.drop_admission());
        for (t, stage) in self.stage.iter_mut().enumerate() {
            if stage.is_empty() {
                continue;
            }
            let Some(Some(ring)) = st.backlogs.get(t) else {
                let n = stage.len() as u64;
                stage.free_all();
                self.counters.drop_n(DropReason::BacklogFull, n);
                continue;
            };
            let count = ring.count();
            // max_backlog is enforced here, below the ring's size, so a
            // reload can change it (netdev_max_backlog is a sysctl too).
            let mut room = st.max_backlog.saturating_sub(count) as usize;
            let mut reason = DropReason::BacklogFull;
            if let Some(fraction) = admit {
                if st
                    .peers
                    .get(t)
                    .is_some_and(|p| p.overloaded.load(Ordering::Relaxed))
                {
                    let limit = (f64::from(st.max_backlog) * fraction) as u32;
                    room = room.min(limit.saturating_sub(count) as usize);
                    reason = DropReason::Overload;
                }
            }
            let sent = ring.enqueue_burst_max(stage, room);
            self.counters.rps_sent.add(sent as u64);
            if !stage.is_empty() {
                // netdev_max_backlog reached: tail drop, like enqueue_to_backlog
                // (or the overload admission limit).
                let n = stage.len() as u64;
                self.counters.drop_n(reason, n);
                stage.free_all();
                if reason == DropReason::Overload {
                    if let Some(peer) = st.peers.get(t) {
                        peer.refused.fetch_add(n, Ordering::Relaxed);
                    }
                }
            }
            if sent > 0 {
                if let Some(peer) = st.peers.get(t) {
                    peer.kick_if_parked();
                }
            }
        }
    }
}
