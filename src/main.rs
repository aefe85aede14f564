//! The `napifwd` command line: parses arguments and dispatches. The work
//! happens in the library (`napifwd::app`, `napifwd::config`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use napifwd::{app, config, dpdk, top};

/// Exit code for an invalid configuration (sysexits.h EX_CONFIG).
const EX_CONFIG: u8 = 78;
/// Exit code for runtime and EAL failures.
const EX_RUNTIME: u8 = 1;

#[derive(Parser, Debug)]
#[command(
    name = "napifwd",
    version,
    about = "DPDK poll-mode forwarder with NAPI-like backlog workers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start the appliance.
    Run {
        /// The TOML configuration file.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        /// Stop after this many seconds.
        #[arg(long, value_name = "SECS")]
        duration: Option<f64>,
        /// Stop after no packet has arrived for this many milliseconds (for pcap replays).
        #[arg(long, value_name = "MS")]
        until_idle: Option<u64>,
        /// Write the final counters as JSON to FILE at exit.
        #[arg(long, value_name = "FILE")]
        stats_json: Option<PathBuf>,
        /// Override log.level (error, warn, info, debug, trace).
        #[arg(long, value_name = "LEVEL")]
        log_level: Option<config::LogLevel>,
        /// Print a stats line every second even when stdout is not a terminal.
        #[arg(long)]
        live_stats: bool,
    },
    /// Parse and validate a config; print every error, or the effective config.
    CheckConfig {
        /// The TOML configuration file.
        file: PathBuf,
    },
    /// Live per-worker table of a running instance (reads its /status).
    Top {
        /// The instance's metrics endpoint ([metrics].listen).
        #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:9469")]
        url: String,
        /// Refresh interval in seconds.
        #[arg(long, value_name = "SECS", default_value_t = 1.0)]
        interval: f64,
        /// Print one table (rates over one interval) and exit; the default when stdout is not a terminal.
        #[arg(long)]
        once: bool,
    },
    /// Print the napifwd and DPDK versions.
    Version,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!(
                "napifwd {} (commit {}, {} build)",
                env!("CARGO_PKG_VERSION"),
                env!("NAPIFWD_GIT_COMMIT"),
                env!("NAPIFWD_BUILD_PROFILE")
            );
            println!(
                "{} (built against {})",
                dpdk::dpdk_version(),
                dpdk_sys::DPDK_HEADERS_VERSION
            );
            ExitCode::SUCCESS
        }
        Command::Top {
            url,
            interval,
            once,
        } => {
            let interval = match Duration::try_from_secs_f64(interval) {
                Ok(d) if d >= Duration::from_millis(100) => d,
                _ => {
                    eprintln!("napifwd: --interval must be at least 0.1 seconds");
                    return ExitCode::from(2);
                }
            };
            match top::run(&top::TopOptions {
                url,
                interval,
                once,
            }) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("napifwd top: {e}");
                    ExitCode::from(EX_RUNTIME)
                }
            }
        }
        Command::CheckConfig { file } => match config::load(&file) {
            Ok(cfg) => match app::check_runtime(&cfg) {
                Ok(()) => {
                    print!("{}", cfg.to_toml());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{}: {e}", file.display());
                    ExitCode::from(EX_CONFIG)
                }
            },
            Err(errs) => {
                eprintln!("{errs}");
                eprintln!("napifwd: {}: {} error(s)", file.display(), errs.len());
                ExitCode::from(EX_CONFIG)
            }
        },
        Command::Run {
            config: file,
            duration,
            until_idle,
            stats_json,
            log_level,
            live_stats,
        } => {
            let mut cfg = match config::load(&file) {
                Ok(c) => c,
                Err(errs) => {
                    eprintln!("{errs}");
                    eprintln!("napifwd: {}: invalid config, not starting", file.display());
                    return ExitCode::from(EX_CONFIG);
                }
            };
            if let Some(l) = log_level {
                cfg.log.level = l;
            }
            let duration = match duration.map(Duration::try_from_secs_f64) {
                Some(Err(_)) => {
                    eprintln!("napifwd: --duration must be a non-negative number of seconds");
                    return ExitCode::from(2);
                }
                Some(Ok(d)) => Some(d),
                None => None,
            };
            let opts = app::RunOptions {
                duration,
                until_idle: until_idle.map(Duration::from_millis),
                stats_json,
                live_stats: live_stats || dpdk::os::stdout_is_tty(),
                config_path: Some(file.clone()),
            };
            match app::run(&cfg, &opts) {
                Ok(_) => ExitCode::SUCCESS,
                Err(e @ app::RunError::Config(_)) => {
                    eprintln!("napifwd: {}: {e}", file.display());
                    ExitCode::from(EX_CONFIG)
                }
                Err(e) => {
                    eprintln!("napifwd: {e}");
                    ExitCode::from(EX_RUNTIME)
                }
            }
        }
    }
}
