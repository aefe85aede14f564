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
#[derive(Debug)]
pub struct L3Tables {
    /// IPv4 routes.
    pub lpm4: Lpm4,
    /// IPv6 routes.
    pub lpm6: Lpm6,
    /// Output port and next-hop MAC, by LPM result.
    pub next_hops: Vec<NextHop>,
}

impl L3Tables {
    /// Loads a route table into DPDK LPM tables on `socket`.
    pub fn build(routes: &RouteTable, socket: u32) -> Result<L3Tables, DpdkError> {
        let mut lpm4 = Lpm4::new(routes.v4.len() as u32, socket)?;
        for &(addr, len, nh) in &routes.v4 {
            lpm4.add(addr, len, nh)?;
        }
        let mut lpm6 = Lpm6::new(routes.v6.len() as u32, socket)?;
        for (addr, len, nh) in &routes.v6 {
            lpm6.add(addr, *len, *nh)?;
        }
        Ok(L3Tables {
            lpm4,
            lpm6,
            next_hops: routes.next_hops.clone(),
        })
    }
}

/// How packets are forwarded.
#[derive(Debug)]
pub enum Mode {
    /// Port-to-port cross-connect.
    L2(XconnectTable),
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
}
