//! For test binaries that start DPDK in their own process (`harness =
//! false`, one EAL per process), included with `#[path]`: they need none
//! of the subprocess machinery in `common/mod.rs`.

/// EAL arguments for a test binary that starts DPDK in its own process
/// (`harness = false`): lcore 0 only, no hugepages, no shared files, no
/// telemetry socket, no PCI probing, errors only in the log.
pub fn in_process_eal_args(program: &str, memory_mb: u32) -> Vec<String> {
    let memory = memory_mb.to_string();
    [
        program,
        "-l",
        "0",
        "--no-huge",
        "-m",
        &memory,
        "--no-shconf",
        "--no-telemetry",
        "--no-pci",
        "--log-level=*:error",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}
