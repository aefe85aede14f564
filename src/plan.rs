//! The forwarding plan: everything a worker reads to decide where a packet
//! goes (route tables, cross-connects, port MACs and MTUs). Built once from
//! the config and the started ports, then shared read-only by all workers
//! behind an `Arc`; a reload builds a new plan and swaps the `Arc`.

use crate::dpdk::{DpdkError, Lpm4, Lpm6};
use crate::fwd::l2::XconnectTable;
use crate::fwd::route::{NextHop, RouteTable};
use crate::wire::MacAddr;

/// What a worker needs to know about an output port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortInfo {
    /// Source MAC for frames sent from this port.
    pub mac: MacAddr,
    /// Largest IP datagram (L3 length) the port may send.
    pub mtu: u16,
}

/// L3 tables: DPDK LPM for IPv4 and IPv6 whose results index `next_hops`.
///
/// rte_lpm and rte_lpm6 reject depth 0 (`rte_lpm_add` returns -EINVAL for a
/// /0), so default routes are kept beside them and used on a miss.
#[derive(Debug)]
pub struct L3Tables {
    /// IPv4 routes of length 1..=32.
    pub lpm4: Lpm4,
    /// IPv6 routes of length 1..=128.
    pub lpm6: Lpm6,
    /// Next hop of `0.0.0.0/0`, if configured.
    pub default4: Option<u32>,
    /// Next hop of `::/0`, if configured.
    pub default6: Option<u32>,
    /// Output port and next-hop MAC, by LPM result.
    pub next_hops: Vec<NextHop>,
}

impl L3Tables {
    /// Loads a route table into DPDK LPM tables on `socket`.
    pub fn build(routes: &RouteTable, socket: u32) -> Result<L3Tables, DpdkError> {
        let (mut default4, mut default6) = (None, None);
        let mut lpm4 = Lpm4::new(routes.v4.len() as u32, socket)?;
        for &(addr, len, nh) in &routes.v4 {
            if len == 0 {
                default4 = Some(nh);
            } else {
                lpm4.add(addr, len, nh)?;
            }
        }
        let mut lpm6 = Lpm6::new(routes.v6.len() as u32, socket)?;
        for (addr, len, nh) in &routes.v6 {
            if *len == 0 {
                default6 = Some(*nh);
            } else {
                lpm6.add(addr, *len, *nh)?;
            }
        }
        Ok(L3Tables {
            lpm4,
            lpm6,
            default4,
            default6,
            next_hops: routes.next_hops.clone(),
        })
    }

    /// The next hop index for an IPv4 destination (host order).
    #[inline(always)]
    pub fn lookup4(&self, dst: u32) -> Option<u32> {
        self.lpm4.lookup(dst).or(self.default4)
    }

    /// The next hop index for an IPv6 destination.
    #[inline(always)]
    pub fn lookup6(&self, dst: &[u8; 16]) -> Option<u32> {
        self.lpm6.lookup(dst).or(self.default6)
    }
}

/// How packets are forwarded.
#[derive(Debug)]
pub enum Mode {
    /// Port-to-port cross-connect (boxed: the table is a fixed array, much
    /// larger than the L3 handles).
    L2(Box<XconnectTable>),
    /// IPv4/IPv6 routing.
    L3(L3Tables),
}

/// The forwarding plan shared by all workers.
#[derive(Debug)]
pub struct Plan {
    /// L2 or L3 and its tables.
    pub mode: Mode,
    /// Per port index (config order).
    pub ports: Vec<PortInfo>,
    /// Verify IPv4 header checksums in software when the NIC did not.
    pub verify_ipv4_checksum: bool,
    /// Port index (config order) by DPDK port id, for packets whose input
    /// port is only known from the mbuf (those that came through a backlog).
    pub index_by_port_id: Vec<Option<usize>>,
}

impl Plan {
    /// The config index of DPDK port `id`.
    #[inline(always)]
    pub fn port_index(&self, id: u16) -> Option<usize> {
        self.index_by_port_id
            .get(usize::from(id))
            .copied()
            .flatten()
    }
}
