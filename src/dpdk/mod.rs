//! The only safe layer over DPDK, and the only module of napifwd that may
//! contain `unsafe`. Everything above it sees owning types whose drop does
//! the right DPDK call:
//!
//! - [`Eal`]: EAL initialised once per process, cleaned up on drop;
//! - [`Mempool`]: a packet mbuf pool with in-use accounting;
//! - [`Mbuf`]: owns one mbuf reference, frees it on drop; [`MbufBurst`] owns
//!   up to N of them in a fixed array and frees them in bulk;
//! - [`Port`], [`RxQueue`], [`TxQueue`]: ethdev configuration, and queue
//!   handles that exist once each, so exactly one worker polls a queue;
//! - [`MbufRing`]: an rte_ring of mbufs with typed producer/consumer ends;
//! - [`Lpm4`], [`Lpm6`]: DPDK's longest-prefix-match tables;
//! - [`lcore`]: running closures on EAL lcores; [`os`]: the few Linux calls
//!   (signals, thread names, scheduling) the control plane needs.
//!
//! Invariant kept throughout: a raw `rte_mbuf` pointer is owned by exactly one
//! Rust value at a time, and every unsafe block says which invariant makes it
//! sound (`// SAFETY:`).

mod bpf;
pub mod cycles;
mod dynfield;
mod eal;
mod error;
mod ethdev;
pub mod lcore;
mod lpm;
mod mbuf;
mod mempool;
pub mod os;
mod ring;

pub use bpf::{BpfProgram, BPF_ARG_SIZE};
pub use dynfield::RxTscField;
pub use eal::{dpdk_version, set_log_level, Eal};
pub use error::DpdkError;
pub use ethdev::{EthStats, Port, PortSetup, RxQueue, TxQueue};
pub use lpm::{Lpm4, Lpm6};
pub use mbuf::{Mbuf, MbufBurst};
pub use mempool::{Mempool, PrefetchW};
pub use ring::{MbufRing, RingConsumer, RingProducer};
