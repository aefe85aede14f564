//! RPS steering: which worker processes a flow, and the flow limit that
//! keeps one flow from filling a backlog.
//!
//! Mirrors Linux `get_rps_cpu` and `skb_flow_limit` in `net/core/dev.c`
//! (Documentation/networking/scaling.rst). Pure: the worker feeds hashes
//! and backlog lengths in, gets decisions out.

/// Maps a 32-bit hash onto `0..n` without a division: Linux's
/// `reciprocal_scale` (`(u64)hash * n >> 32`). Uniform when the hash is, and
/// uses the hash's high bits, which good hashes mix best.
#[inline(always)]
pub const fn reciprocal_scale(hash: u32, n: u32) -> u32 {
    ((hash as u64 * n as u64) >> 32) as u32
}

/// The rps map: the workers flows are spread over (`rps_cpus`). Like the
/// kernel's `struct rps_map` it is a list that the hash indexes, so a worker
/// listed twice gets two shares of the flows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpsMap {
    workers: Vec<usize>,
    single: bool,
}

impl RpsMap {
    /// A map over these worker ids (repeats are weights); `None` when
    /// empty (RPS needs at least one target).
    pub fn new(workers: Vec<usize>) -> Option<RpsMap> {
        let first = *workers.first()?;
        let single = workers.iter().all(|&w| w == first);
        Some(RpsMap { workers, single })
    }

    /// Every flow goes to one worker: no hash is needed to choose.
    pub fn single(&self) -> bool {
        self.single
    }

    /// The worker that processes packets with this flow hash.
    #[inline(always)]
    pub fn target(&self, hash: u32) -> usize {
        let i = reciprocal_scale(hash, self.workers.len() as u32) as usize;
        // i < len by construction of reciprocal_scale, and the map is never
        // empty; `get` keeps the hot path panic-free regardless.
        self.workers.get(i).copied().unwrap_or_default()
    }

    /// The workers in the map.
    pub fn workers(&self) -> &[usize] {
        &self.workers
    }
}

/// Packets of history the flow limit remembers (`FLOW_LIMIT_HISTORY`).
pub const FLOW_LIMIT_HISTORY: usize = 128;

/// A history slot that holds no packet yet (no bucket has this index).
const EMPTY: u32 = u32::MAX;

/// The kernel's flow limit for one backlog, as seen by one producer.
///
/// Active only while the backlog is more than half full. It remembers the
/// flow buckets of the last [`FLOW_LIMIT_HISTORY`] packets; a packet whose
/// bucket already holds more than half of that history is dropped. Large
/// flows are thereby held to their share while small flows pass.
///
/// Linux keeps one table per CPU backlog under the backlog's lock. napifwd
/// keeps one per (producer, backlog) pair so producers never share writes;
/// since a flow always enters on one RX queue (RSS or a single queue), one
/// producer sees the whole of each flow and the decision is the same.
#[derive(Debug, Clone)]
pub struct FlowLimit {
    buckets: Vec<u8>,
    history: [u32; FLOW_LIMIT_HISTORY],
    head: usize,
    mask: u32,
}

impl FlowLimit {
    /// A table with `table_len` buckets (a power of two, as
    /// `flow_limit_cpu_bitmap`'s `flow_limit_table_len` must be).
    pub fn new(table_len: u32) -> FlowLimit {
        let len = table_len.max(1).next_power_of_two();
        FlowLimit {
            buckets: vec![0; len as usize],
            history: [EMPTY; FLOW_LIMIT_HISTORY],
            head: 0,
            mask: len - 1,
        }
    }

    /// Decides whether to drop a packet of flow `hash` being enqueued onto a
    /// backlog that holds `qlen` of at most `max_backlog` packets. Returns
    /// true to drop. Below half full it returns false and records nothing,
    /// exactly like `skb_flow_limit`.
    #[inline(always)]
    pub fn should_drop(&mut self, hash: u32, qlen: u32, max_backlog: u32) -> bool {
        if qlen < max_backlog / 2 {
            return false;
        }
        let new_flow = hash & self.mask;
        let old_flow = self.history[self.head];
        self.history[self.head] = new_flow;
        self.head = (self.head + 1) % FLOW_LIMIT_HISTORY;
        // EMPTY slots (never written) are out of range and skipped; the
        // kernel starts from zeros and so briefly undercounts bucket 0.
        if let Some(b) = self.buckets.get_mut(old_flow as usize) {
            *b = b.saturating_sub(1);
        }
        match self.buckets.get_mut(new_flow as usize) {
            Some(b) => {
                *b = b.saturating_add(1);
                usize::from(*b) > FLOW_LIMIT_HISTORY / 2
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    #[test]
    fn reciprocal_scale_spreads_evenly() {
        for n in 1..=16u32 {
            let mut counts = vec![0u32; n as usize];
            // A full sweep of evenly spaced hashes must split evenly (+-1).
            let steps = 1u64 << 16;
            for k in 0..steps {
                let h = (k * (1u64 << 32) / steps) as u32;
                let t = reciprocal_scale(h, n);
                assert!(t < n);
                counts[t as usize] += 1;
            }
            let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
            assert!(max - min <= 1, "n={n}: {counts:?}");
        }
        assert_eq!(reciprocal_scale(u32::MAX, 7), 6);
        assert_eq!(reciprocal_scale(0, 7), 0);
    }

    #[test]
    fn map_targets_only_its_workers() {
        let m = RpsMap::new(vec![2, 5]).unwrap();
        assert_eq!(m.target(0), 2);
        assert_eq!(m.target(u32::MAX), 5);
        assert!(RpsMap::new(vec![]).is_none());
        assert!(!m.single());
        assert!(RpsMap::new(vec![3, 3]).unwrap().single());
    }

    #[test]
    fn a_worker_listed_three_times_gets_three_shares() {
        let m = RpsMap::new(vec![1, 2, 2, 2]).unwrap();
        let steps = 1u64 << 16;
        let to_1 = (0..steps)
            .filter(|k| m.target((k * (1u64 << 32) / steps) as u32) == 1)
            .count() as u64;
        assert_eq!(to_1, steps / 4);
    }

    #[test]
    fn flow_limit_inactive_below_half() {
        let mut fl = FlowLimit::new(4096);
        for _ in 0..10_000 {
            assert!(!fl.should_drop(7, 499, 1000));
        }
    }

    #[test]
    fn elephant_is_limited_mice_pass() {
        let mut fl = FlowLimit::new(4096);
        let (mut elephant_drops, mut mouse_drops) = (0, 0);
        for i in 0..10_000u32 {
            // 3 of 4 packets belong to one flow.
            if i % 4 != 0 {
                elephant_drops += u32::from(fl.should_drop(42, 900, 1000));
            } else {
                mouse_drops += u32::from(fl.should_drop(1000 + i, 900, 1000));
            }
        }
        assert_eq!(mouse_drops, 0);
        assert!(elephant_drops > 0);
    }

    proptest! {
        /// Against the obvious model: a queue of the buckets of the last
        /// 128 packets recorded; drop when the new packet's bucket then
        /// occurs more than 64 times.
        #[test]
        fn matches_model(ops in proptest::collection::vec((0u32..16, any::<bool>()), 1..3000)) {
            let table = 8;
            let mut fl = FlowLimit::new(table);
            let mut hist: VecDeque<u32> = VecDeque::new();
            for (flow, over_half) in ops {
                let qlen = if over_half { 600 } else { 100 };
                let got = fl.should_drop(flow, qlen, 1000);
                if !over_half {
                    prop_assert!(!got);
                    continue;
                }
                let bucket = flow & (table - 1);
                if hist.len() == FLOW_LIMIT_HISTORY {
                    hist.pop_front();
                }
                hist.push_back(bucket);
                let count = hist.iter().filter(|&&b| b == bucket).count();
                prop_assert_eq!(got, count > FLOW_LIMIT_HISTORY / 2);
            }
        }
    }
}
