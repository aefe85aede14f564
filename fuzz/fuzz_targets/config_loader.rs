//! Fuzzes the config loader: TOML parsing, typed deserialisation,
//! validation, error line numbers, and the effective config's round trip.
//!
//! Run with `cargo +nightly fuzz run config_loader` from the repository
//! root. The body is `napifwd::config::fuzz::config_loader`, which stable
//! proptests in `src/config/fuzz.rs` also run, so CI exercises the same code.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    napifwd::config::fuzz::config_loader(data);
});
