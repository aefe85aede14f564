//! The overload policy: what a worker does when packets arrive faster than
//! it can process them — the open question of the Linux backlog-threads
//! work ("what do we do when a DoS is happening?") turned into a feature.
//!
//! - [`detector`]: per-worker state machine with hysteresis over a fill signal;
//! - [`filter`]: the XDP-like rule filter judged at RX before steering.
//!
//! The actions themselves (drop at enqueue, demote the scheduling class,
//! filter) are applied by the worker (`crate::worker`).

pub mod detector;
pub mod filter;

pub use detector::{Detector, State, Thresholds};
pub use filter::{FilterCounters, RuleFilter, TokenBucket, Verdict};
