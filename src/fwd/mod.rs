//! Forwarding decisions: pure functions and tables the DPDK workers call.
//!
//! Nothing here touches DPDK: every function takes a frame's bytes (a slice of
//! an mbuf's first segment) and returns a value, so all of it is unit- and
//! property-tested without EAL.
//!
//! - [`l3`]: RFC 1812 receive checks (`classify`) and the L3 rewrite.
//! - [`route`]: the route table model built from the config, and a reference
//!   longest-prefix match that tests check `rte_lpm` against.
//! - [`l2`]: the L2 cross-connect table and its MAC rewrite.
//! - [`flow`]: flow keys and the software flow hash used for RPS steering.
//!
//! Hot-path functions (`classify`, `rewrite`, `XconnectTable::lookup`,
//! `FlowKey::from_frame`, `FlowKey::hash`) do not allocate, lock, log or
//! panic; table construction runs once at start-up (or reload) and may
//! allocate.

pub mod flow;
pub mod l2;
pub mod l3;
pub mod route;

#[doc(hidden)]
pub mod fuzz;
