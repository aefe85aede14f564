//! What the RPS hand-off assumes about napifwd's mbufs, checked on real
//! DPDK pools: a freshly allocated mbuf's data starts at the fixed offset
//! the prefetches use (no dependent load of `buf_addr`), and prefetching
//! a pool cache's next allocations changes nothing about what comes out
//! or what goes back.
//!
//! One EAL per process: own `main` (harness = false), EAL without hugepages.

#[path = "common/inproc.rs"]
mod inproc;

use napifwd::dpdk::{Eal, Mempool, PrefetchW};

fn main() {
    let args = inproc::in_process_eal_args("dpdk_mbuf", 128);
    let eal = Eal::init(&args).expect("EAL init without hugepages");
    let pool = Mempool::create("dpdk_mbuf_test", 1023, 64, 0).expect("pool");
    let baseline = pool.in_use();
    let mut held = Vec::new();
    let mut failures = 0;
    for i in 0..300 {
        // Prefetching must be harmless whatever the cache holds.
        pool.prefetch_next_allocs(32, PrefetchW::detect());
        let m = pool.alloc().expect("mbuf");
        if !m.data_at_rx_offset() {
            eprintln!("mbuf {i}: data does not start at the RX offset");
            failures += 1;
        }
        held.push(m);
        if held.len() == 40 {
            held.clear();
        }
    }
    held.clear();
    if pool.in_use() != baseline {
        eprintln!(
            "in use {} after freeing all, baseline {baseline}",
            pool.in_use()
        );
        failures += 1;
    }
    drop(eal);
    if failures > 0 {
        eprintln!("dpdk_mbuf: {failures} check(s) failed");
        std::process::exit(1);
    }
    eprintln!("dpdk_mbuf: ok");
}
