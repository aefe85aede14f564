//! napifwd's own lines on stderr (start-up, reloads, stops, warnings),
//! filtered by `log.level` / `--log-level`, live across SIGHUP. DPDK's own
//! messages follow one step quieter ([`config::dpdk_log_level`]).
//!
//! Not filtered: command-line and config errors before a config is loaded,
//! and the run's results on stdout (live lines, the final summary).

use std::sync::atomic::{AtomicU8, Ordering};

use crate::config::{self, LogLevel};

static LEVEL: AtomicU8 = AtomicU8::new(config::DEFAULT_LOG_LEVEL as u8);

/// Sets the level for the whole process.
pub fn set_level(level: LogLevel) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// True when lines of `level` are printed.
pub fn enabled(level: LogLevel) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// `eprintln!` when errors are logged (always: `error` is the quietest level).
#[macro_export]
macro_rules! log_error {
    ($($arg:tt)*) => {
        if $crate::log::enabled($crate::config::LogLevel::Error) {
            eprintln!($($arg)*);
        }
    };
}

/// `eprintln!` when warnings are logged.
#[macro_export]
macro_rules! log_warn {
    ($($arg:tt)*) => {
        if $crate::log::enabled($crate::config::LogLevel::Warn) {
            eprintln!($($arg)*);
        }
    };
}

/// `eprintln!` when start-up and state changes are logged.
#[macro_export]
macro_rules! log_info {
    ($($arg:tt)*) => {
        if $crate::log::enabled($crate::config::LogLevel::Info) {
            eprintln!($($arg)*);
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_level_includes_the_quieter_ones() {
        let order = [
            LogLevel::Error,
            LogLevel::Warn,
            LogLevel::Info,
            LogLevel::Debug,
            LogLevel::Trace,
        ];
        for (i, &set) in order.iter().enumerate() {
            set_level(set);
            for (j, &l) in order.iter().enumerate() {
                assert_eq!(enabled(l), j <= i, "level {set:?}, line {l:?}");
            }
        }
        set_level(config::DEFAULT_LOG_LEVEL);
    }
}
