//! napifwd: a DPDK poll-mode forwarding appliance built around the Linux
//! "backlog NAPI threads" ideas (NAPI budgets, RPS backlogs, an overload
//! policy, deferred freeing). See ARCHITECTURE.md for the code map.
//!
//! Everything outside [`dpdk`] is safe Rust that can be tested without DPDK;
//! [`dpdk`] is the only module allowed to contain `unsafe`.
#![deny(unsafe_code)]

pub mod app;
pub mod config;
#[allow(unsafe_code)]
pub mod dpdk;
pub mod drop_reason;
pub mod fwd;
pub mod latency;
pub mod log;
pub mod metrics;
pub mod napi;
pub mod overload;
pub mod plan;
pub mod rps;
pub mod stats;
pub mod top;
pub mod wire;
pub mod worker;
