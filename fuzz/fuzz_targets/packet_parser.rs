//! Fuzzes the packet parsers: `classify` + `rewrite`, the flow key and hash,
//! the L2 rewrite and the L4 views, and the invariants that relate them.
//!
//! Run with `cargo +nightly fuzz run packet_parser` from the repository root.
//! The body is `napifwd::fwd::fuzz::packet_parser`, which a stable proptest in
//! `src/fwd/fuzz.rs` also runs, so CI exercises the same code.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    napifwd::fwd::fuzz::packet_parser(data);
});
