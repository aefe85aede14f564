//! Build script for `dpdk-sys`: find DPDK with pkg-config, generate bindings
//! with bindgen into `OUT_DIR`, and compile the C shim (`shim.c`) that exports
//! DPDK's `static inline` fast-path functions.
//!
//! The shim and the bindings are compiled with exactly the cflags `libdpdk.pc`
//! reports (including its `-march`), so the struct layouts Rust sees and the
//! code the shim runs match the DPDK build that will be loaded at run time.

use std::env;
use std::path::PathBuf;
use std::process::Command;

/// Oldest DPDK whose ABI these bindings were written against.
const MIN_DPDK: &str = "22.11";

const INSTALL_HINT: &str = "install the DPDK development files: \
     `apt-get install libdpdk-dev pkg-config libclang-dev` (Debian/Ubuntu), \
     or set PKG_CONFIG_PATH to the directory holding libdpdk.pc";

fn main() {
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed=shim.h");
    println!("cargo:rerun-if-changed=shim.c");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    let lib = match pkg_config::Config::new()
        .atleast_version(MIN_DPDK)
        .probe("libdpdk")
    {
        Ok(lib) => lib,
        Err(e) => panic!(
            "\n\ndpdk-sys: libdpdk >= {MIN_DPDK} not found via pkg-config: {e}\n{INSTALL_HINT}\n\n"
        ),
    };
    let cflags = dpdk_cflags();

    // The version the headers describe; the crate checks it against the
    // runtime library (`rte_version()`) in its tests.
    println!("cargo:rustc-env=DPDK_PKG_VERSION={}", lib.version);
    println!("cargo:version={}", lib.version);

    let mut build = cc::Build::new();
    build
        .file("shim.c")
        .include(".")
        .opt_level(3)
        .warnings(true);
    for f in &cflags {
        build.flag(f);
    }
    build.compile("napifwd_dpdk_shim");

    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR is set by cargo"));
    let bindings = bindgen::Builder::default()
        .header("wrapper.h")
        .clang_args(&cflags)
        .clang_arg("-I.")
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        // Functions napifwd calls. Everything they reference is pulled in.
        .allowlist_function("napi_.*")
        .allowlist_function("rte_eal_.*")
        .allowlist_function("rte_eth_.*")
        .allowlist_function("rte_pktmbuf_pool_create.*")
        .allowlist_function("rte_pktmbuf_free_bulk")
        .allowlist_function("rte_mempool_(avail_count|in_use_count|lookup|free)")
        .allowlist_function("rte_mbuf_dyn.*")
        .allowlist_function("rte_ring_(create|free|lookup)")
        .allowlist_function("rte_lpm_(create|free|add|delete|delete_all|find_existing)")
        .allowlist_function("rte_lpm6_(create|free|add|delete|delete_all|lookup|lookup_bulk_func)")
        .allowlist_function("rte_bpf_(load|elf_load|destroy|exec|exec_burst|get_jit)")
        .allowlist_function("rte_(lcore|socket)_.*")
        .allowlist_function("rte_get_(tsc_hz|main_lcore|next_lcore)")
        .allowlist_function(
            "rte_(strerror|version|log_set_global_level|log_set_level_pattern|dev_.*)",
        )
        .allowlist_function("rte_(zmalloc_socket|malloc|free)")
        .allowlist_type("rte_mbuf")
        .allowlist_type("rte_mempool_cache")
        .allowlist_type("rte_ether_hdr|rte_ipv4_hdr|rte_ipv6_hdr")
        .allowlist_var("RTE_(MBUF|ETH|PKTMBUF|RING|LPM|MAX_ETHPORTS|LOG|MEMPOOL|VER).*")
        .allowlist_var("RTE_(BPF|BPF_ARG).*")
        .allowlist_var("RING_F_.*|SOCKET_ID_ANY")
        // Packed protocol headers that bindgen cannot lay out in 22.11
        // (bitfields inside packed structs); napifwd never touches them.
        .blocklist_type("rte_l2tpv2_.*|rte_gtp_.*")
        .opaque_type("rte_l2tpv2_.*|rte_gtp_.*|rte_flow_item_l2tpv2|rte_flow_item_gtp.*")
        .derive_default(true)
        .derive_debug(true)
        .layout_tests(true)
        .generate_comments(false)
        .prepend_enum_name(false)
        .generate()
        .unwrap_or_else(|e| {
            panic!("\n\ndpdk-sys: bindgen failed on the DPDK headers: {e}\n{INSTALL_HINT}\n\n")
        });
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("write bindings.rs to OUT_DIR");
}

/// The full `--cflags` of libdpdk.pc. The pkg-config crate keeps only `-I`
/// and `-D`; DPDK also needs `-include rte_config.h` and its `-march`.
fn dpdk_cflags() -> Vec<String> {
    let out = Command::new(env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into()))
        .args(["--cflags", "libdpdk"])
        .output()
        .unwrap_or_else(|e| panic!("\n\ndpdk-sys: cannot run pkg-config: {e}\n{INSTALL_HINT}\n\n"));
    assert!(
        out.status.success(),
        "\n\ndpdk-sys: `pkg-config --cflags libdpdk` failed: {}\n{INSTALL_HINT}\n\n",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}
