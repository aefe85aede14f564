//! The L3 route table model and a reference longest-prefix match.
//!
//! [`RouteTable`] is what the config's `[[forward.routes]]` become: IPv4 and
//! IPv6 prefixes, each pointing at an index into a deduplicated list of
//! [`NextHop`]s (output port + next-hop MAC). The DPDK layer loads it into
//! `rte_lpm` / `rte_lpm6`, whose next-hop fields hold exactly these indices.
//!
//! [`RefLpm`] is a deliberately simple longest-prefix match (one exact-match
//! map per prefix length, searched from the longest length down). It is the
//! model that property tests check against a brute-force scan, and that the
//! DPDK layer's tests check `rte_lpm` against. It allocates at build time and
//! is not meant for the hot path.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use super::l3::L3Dst;
use crate::wire::{IpPrefix, MacAddr};

/// The most next hops the table may hold: `rte_lpm6` stores next hops in
/// 21 bits (`rte_lpm` in 24), so indices must stay below 2^21.
pub const MAX_NEXT_HOPS: usize = 1 << 21;

/// Where a matched packet goes: output port index and the MAC of the next hop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NextHop {
    /// Output port index.
    pub port: usize,
    /// Destination MAC to write.
    pub mac: MacAddr,
}

/// Why a route table could not be built. The message names the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The same prefix appears twice (with the same or another next hop).
    #[error("route {0} is listed more than once: keep one [[forward.routes]] entry per prefix")]
    DuplicatePrefix(IpPrefix),
    /// More distinct (port, next_hop_mac) pairs than the LPM can index.
    #[error("too many distinct next hops ({0}): at most {MAX_NEXT_HOPS} (port, next_hop_mac) pairs are supported")]
    TooManyNextHops(usize),
}

/// The route table: prefixes with next-hop indices, and the next hops.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteTable {
    /// Distinct next hops, in order of first appearance.
    pub next_hops: Vec<NextHop>,
    /// IPv4 routes: (network address in host order, prefix length 0..=32,
    /// index into `next_hops`), in input order.
    pub v4: Vec<(u32, u8, u32)>,
    /// IPv6 routes: (network address bytes, prefix length 0..=128, index
    /// into `next_hops`), in input order.
    pub v6: Vec<([u8; 16], u8, u32)>,
}

impl RouteTable {
    /// Builds the table from `(prefix, output_port, next_hop_mac)` triples,
    /// deduplicating next hops. A prefix listed twice is an error, so that
    /// which entry wins never depends on order.
    pub fn new<I>(routes: I) -> Result<Self, RouteError>
    where
        I: IntoIterator<Item = (IpPrefix, usize, MacAddr)>,
    {
        let mut table = RouteTable::default();
        let mut hop_index: HashMap<NextHop, u32> = HashMap::new();
        let mut seen: HashSet<IpPrefix> = HashSet::new();
        for (prefix, port, mac) in routes {
            if !seen.insert(prefix) {
                return Err(RouteError::DuplicatePrefix(prefix));
            }
            let hop = NextHop { port, mac };
            let index = match hop_index.get(&hop) {
                Some(&i) => i,
                None => {
                    let i = table.next_hops.len();
                    if i >= MAX_NEXT_HOPS {
                        return Err(RouteError::TooManyNextHops(i + 1));
                    }
                    table.next_hops.push(hop);
                    hop_index.insert(hop, i as u32);
                    i as u32
                }
            };
            match prefix.addr() {
                IpAddr::V4(a) => table.v4.push((u32::from(a), prefix.len(), index)),
                IpAddr::V6(a) => table.v6.push((a.octets(), prefix.len(), index)),
            }
        }
        Ok(table)
    }

    /// The next hop at `index` (as returned by a lookup).
    #[inline]
    pub fn next_hop(&self, index: u32) -> Option<&NextHop> {
        self.next_hops.get(index as usize)
    }

    /// Number of routes (IPv4 + IPv6).
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// True when there are no routes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Network mask for an IPv4 prefix length (0..=32).
#[inline]
fn mask_v4(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    }
}

/// Network mask for an IPv6 prefix length (0..=128).
#[inline]
fn mask_v6(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len.min(128)))
    }
}

/// A reference longest-prefix match: one exact-match map per prefix length,
/// searched from the longest length down. Obviously correct, not fast.
#[derive(Clone, Debug)]
pub struct RefLpm {
    /// `v4[len]`: masked address -> next-hop index, for prefixes of length `len`.
    v4: Vec<HashMap<u32, u32>>,
    /// `v6[len]`, likewise for IPv6.
    v6: Vec<HashMap<u128, u32>>,
}

impl RefLpm {
    /// Builds the model from a route table. Like `rte_lpm_add`, host bits of
    /// an address are masked off and a length beyond the family's width is
    /// ignored (a [`RouteTable::new`] table has neither). If a prefix occurs
    /// twice, the later entry wins, as a second `rte_lpm_add` would.
    pub fn new(table: &RouteTable) -> Self {
        let mut v4 = vec![HashMap::new(); 33];
        let mut v6 = vec![HashMap::new(); 129];
        for &(addr, len, hop) in &table.v4 {
            if let Some(m) = v4.get_mut(usize::from(len)) {
                m.insert(addr & mask_v4(len), hop);
            }
        }
        for &(addr, len, hop) in &table.v6 {
            if let Some(m) = v6.get_mut(usize::from(len)) {
                m.insert(u128::from_be_bytes(addr) & mask_v6(len), hop);
            }
        }
        RefLpm { v4, v6 }
    }

    /// Next-hop index of the longest IPv4 prefix containing `addr` (host order).
    pub fn lookup_v4(&self, addr: u32) -> Option<u32> {
        (0..=32u8).rev().find_map(|len| {
            self.v4[usize::from(len)]
                .get(&(addr & mask_v4(len)))
                .copied()
        })
    }

    /// Next-hop index of the longest IPv6 prefix containing `addr`.
    pub fn lookup_v6(&self, addr: &[u8; 16]) -> Option<u32> {
        let a = u128::from_be_bytes(*addr);
        (0..=128u8)
            .rev()
            .find_map(|len| self.v6[usize::from(len)].get(&(a & mask_v6(len))).copied())
    }

    /// Looks up either family.
    pub fn lookup(&self, dst: &L3Dst) -> Option<u32> {
        match dst {
            L3Dst::V4(a) => self.lookup_v4(*a),
            L3Dst::V6(a) => self.lookup_v6(a),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const A: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xa]);
    const B: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xb]);

    fn p(s: &str) -> IpPrefix {
        s.parse().unwrap()
    }

    fn v4(s: &str) -> u32 {
        s.parse::<Ipv4Addr>().unwrap().into()
    }

    fn v6(s: &str) -> [u8; 16] {
        s.parse::<Ipv6Addr>().unwrap().octets()
    }

    #[test]
    fn builds_and_dedups_next_hops() {
        let t = RouteTable::new([
            (p("10.0.0.0/8"), 0, A),
            (p("2001:db8::/32"), 0, A),
            (p("10.1.0.0/16"), 1, A),
            (p("0.0.0.0/0"), 0, B),
            (p("::/0"), 1, A),
        ])
        .unwrap();
        assert_eq!(
            t.next_hops,
            vec![
                NextHop { port: 0, mac: A },
                NextHop { port: 1, mac: A },
                NextHop { port: 0, mac: B },
            ]
        );
        assert_eq!(
            t.v4,
            vec![(v4("10.0.0.0"), 8, 0), (v4("10.1.0.0"), 16, 1), (0, 0, 2)]
        );
        assert_eq!(t.v6, vec![(v6("2001:db8::"), 32, 0), ([0; 16], 0, 1)]);
        assert_eq!(t.len(), 5);
        assert!(!t.is_empty());
        assert_eq!(t.next_hop(2), Some(&NextHop { port: 0, mac: B }));
        assert_eq!(t.next_hop(3), None);
        assert!(RouteTable::new([]).unwrap().is_empty());
    }

    #[test]
    fn duplicate_prefix_is_an_error_that_names_it() {
        let e = RouteTable::new([(p("10.0.0.0/8"), 0, A), (p("10.0.0.0/8"), 0, A)]).unwrap_err();
        assert_eq!(e, RouteError::DuplicatePrefix(p("10.0.0.0/8")));
        assert!(e.to_string().contains("10.0.0.0/8"), "{e}");
        // Same address, other length: not a duplicate.
        assert!(RouteTable::new([(p("10.0.0.0/8"), 0, A), (p("10.0.0.0/9"), 0, A)]).is_ok());
    }

    #[test]
    fn longest_prefix_wins() {
        let t = RouteTable::new([
            (p("10.0.0.0/8"), 0, A),
            (p("10.1.0.0/16"), 1, A),
            (p("10.1.2.3/32"), 2, A),
            (p("0.0.0.0/0"), 3, A),
            (p("2001:db8::/32"), 0, B),
            (p("2001:db8:1::/48"), 1, B),
            (p("2001:db8:1::1/128"), 2, B),
        ])
        .unwrap();
        let lpm = RefLpm::new(&t);
        let port = |i: Option<u32>| i.map(|i| t.next_hops[i as usize].port);
        assert_eq!(port(lpm.lookup_v4(v4("10.1.2.3"))), Some(2));
        assert_eq!(port(lpm.lookup_v4(v4("10.1.2.4"))), Some(1));
        assert_eq!(port(lpm.lookup_v4(v4("10.2.0.0"))), Some(0));
        assert_eq!(port(lpm.lookup_v4(v4("11.0.0.0"))), Some(3));
        assert_eq!(port(lpm.lookup_v4(v4("255.255.255.255"))), Some(3));
        assert_eq!(port(lpm.lookup_v6(&v6("2001:db8:1::1"))), Some(2));
        assert_eq!(port(lpm.lookup_v6(&v6("2001:db8:1::2"))), Some(1));
        assert_eq!(port(lpm.lookup_v6(&v6("2001:db8:2::"))), Some(0));
        assert_eq!(lpm.lookup_v6(&v6("2001:db9::")), None, "no ::/0 route");
        assert_eq!(
            lpm.lookup(&L3Dst::V4(v4("10.1.2.3"))),
            lpm.lookup_v4(v4("10.1.2.3"))
        );
        assert_eq!(
            lpm.lookup(&L3Dst::V6(v6("2001:db8::5"))),
            lpm.lookup_v6(&v6("2001:db8::5"))
        );
    }

    #[test]
    fn empty_table_matches_nothing() {
        let lpm = RefLpm::new(&RouteTable::default());
        assert_eq!(lpm.lookup_v4(0), None);
        assert_eq!(lpm.lookup_v6(&[0; 16]), None);
    }

    #[test]
    fn hand_built_tables_are_masked_and_bounded_like_rte_lpm_add() {
        let t = RouteTable {
            next_hops: vec![NextHop { port: 0, mac: A }],
            v4: vec![(v4("10.1.2.3"), 8, 0), (0, 33, 7)],
            v6: vec![(v6("2001:db8::1"), 32, 0), ([0; 16], 129, 7)],
        };
        let lpm = RefLpm::new(&t);
        assert_eq!(lpm.lookup_v4(v4("10.200.0.1")), Some(0));
        assert_eq!(lpm.lookup_v4(0), None);
        assert_eq!(lpm.lookup_v6(&v6("2001:db8:ffff::")), Some(0));
        assert_eq!(lpm.lookup_v6(&[0; 16]), None);
    }

    fn brute_v4(t: &RouteTable, a: u32) -> Option<u32> {
        t.v4.iter()
            .filter(|(n, l, _)| a & mask_v4(*l) == *n)
            .max_by_key(|(_, l, _)| *l)
            .map(|r| r.2)
    }

    fn brute_v6(t: &RouteTable, a: &[u8; 16]) -> Option<u32> {
        let a = u128::from_be_bytes(*a);
        t.v6.iter()
            .filter(|(n, l, _)| a & mask_v6(*l) == u128::from_be_bytes(*n))
            .max_by_key(|(_, l, _)| *l)
            .map(|r| r.2)
    }

    /// Route sets whose prefixes overlap a lot: addresses come from a few
    /// bases with random low bits, lengths are anything.
    fn arb_routes() -> impl Strategy<Value = Vec<(IpPrefix, usize, MacAddr)>> {
        let v4 = (0usize..3, any::<u32>(), 0u8..=32, 0usize..4, 0u8..3).prop_map(
            |(base, low, len, port, mac)| {
                let bases = [0x0a00_0000u32, 0xc612_0000, 0];
                let a = (bases[base] | (low >> (len % 24))) & mask_v4(len);
                let pre = IpPrefix::new(IpAddr::V4(a.into()), len).unwrap();
                (pre, port, MacAddr([2, 0, 0, 0, 0, mac]))
            },
        );
        let v6 = (0usize..3, any::<u128>(), 0u8..=128, 0usize..4, 0u8..3).prop_map(
            |(base, low, len, port, mac)| {
                let bases = [0x2001_0db8u128 << 96, 0xfe80u128 << 112, 0];
                let a = (bases[base] | (low >> (u32::from(len) % 100))) & mask_v6(len);
                let pre = IpPrefix::new(IpAddr::V6(a.into()), len).unwrap();
                (pre, port, MacAddr([2, 0, 0, 0, 0, mac]))
            },
        );
        (
            proptest::collection::vec(v4, 0..40),
            proptest::collection::vec(v6, 0..40),
        )
            .prop_map(|(a, b)| {
                let mut seen = HashSet::new();
                a.into_iter()
                    .chain(b)
                    .filter(|r| seen.insert(r.0))
                    .collect()
            })
    }

    proptest! {
        #[test]
        fn ref_lpm_equals_brute_force(
            routes in arb_routes(),
            probes4 in proptest::collection::vec(any::<u32>(), 0..50),
            probes6 in proptest::collection::vec(any::<u128>(), 0..50),
            host_bits in any::<u128>(),
        ) {
            let t = RouteTable::new(routes.clone()).unwrap();
            let lpm = RefLpm::new(&t);
            // Random addresses, plus each route's network, its last address,
            // and a random address inside it.
            let mut a4 = probes4;
            for &(n, l, _) in &t.v4 {
                a4.extend([n, n | !mask_v4(l), n | (host_bits as u32 & !mask_v4(l)), n.wrapping_sub(1)]);
            }
            for a in a4 {
                prop_assert_eq!(lpm.lookup_v4(a), brute_v4(&t, a), "addr {:#x}", a);
            }
            let mut a6: Vec<u128> = probes6;
            for &(n, l, _) in &t.v6 {
                let n = u128::from_be_bytes(n);
                a6.extend([n, n | !mask_v6(l), n | (host_bits & !mask_v6(l)), n.wrapping_sub(1)]);
            }
            for a in a6 {
                let a = a.to_be_bytes();
                prop_assert_eq!(lpm.lookup_v6(&a), brute_v6(&t, &a));
            }
            // Every index points at the next hop of its own route.
            for (i, (pre, port, mac)) in routes.iter().enumerate() {
                let idx = if pre.is_ipv4() {
                    t.v4.iter().find(|r| IpAddr::V4(r.0.into()) == pre.addr() && r.1 == pre.len()).unwrap().2
                } else {
                    t.v6.iter().find(|r| IpAddr::V6(r.0.into()) == pre.addr() && r.1 == pre.len()).unwrap().2
                };
                prop_assert_eq!(t.next_hops[idx as usize], NextHop { port: *port, mac: *mac }, "route {}", i);
            }
            // Next hops are distinct.
            let distinct: HashSet<_> = t.next_hops.iter().collect();
            prop_assert_eq!(distinct.len(), t.next_hops.len());
        }
    }
}
