//! What the RPS hand-off assumes about napifwd's mbufs, checked on real
//! DPDK pools: a freshly allocated mbuf's data starts at the fixed offset
//! the prefetches use (no dependent load of `buf_addr`), and prefetching
//! a pool cache's next allocations changes nothing about what comes out
//! or what goes back.
//!
//! One EAL per process: own `main` (harness = false), EAL without hugepages.

#[path = "common/inproc.rs"]
mod inproc;

use napifwd::dpdk::{Eal, Mbuf, MbufBurst, Mempool, PrefetchW};

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
    failures += retain_owned_partitions_in_place(&pool, baseline);
    drop(eal);
    if failures > 0 {
        eprintln!("dpdk_mbuf: {failures} check(s) failed");
        std::process::exit(1);
    }
    eprintln!("dpdk_mbuf: ok");
}

/// `MbufBurst::retain_owned` (RPS steering's partition of an RX burst):
/// the kept mbufs stay at the front in order, the taken ones go where the
/// closure put them, in order, and nothing leaks or is freed twice.
fn retain_owned_partitions_in_place(pool: &Mempool, baseline: u32) -> u32 {
    let mut failures = 0;
    let mut burst: MbufBurst<32> = MbufBurst::new();
    for i in 0..32u8 {
        let mut m = pool.alloc().expect("mbuf");
        assert!(m.append(&[i]), "room for one byte");
        assert!(burst.push(m).is_ok(), "burst of 32 holds 32");
    }
    let mut taken: MbufBurst<32> = MbufBurst::new();
    let mut dropped = 0;
    burst.retain_owned(|m: Mbuf| match m.data()[0] % 3 {
        0 => Some(m),
        1 => {
            assert!(taken.push(m).is_ok());
            None
        }
        _ => {
            dropped += 1;
            None
        }
    });
    let ids = |b: &MbufBurst<32>| {
        b.as_slice()
            .iter()
            .map(|m| m.data()[0])
            .collect::<Vec<u8>>()
    };
    let (kept, moved) = (ids(&burst), ids(&taken));
    if kept != (0..32).filter(|i| i % 3 == 0).collect::<Vec<u8>>()
        || moved != (0..32).filter(|i| i % 3 == 1).collect::<Vec<u8>>()
        || dropped != 10
    {
        eprintln!("retain_owned: kept {kept:?}, moved {moved:?}, dropped {dropped}");
        failures += 1;
    }
    drop(burst);
    drop(taken);
    if pool.in_use() != baseline {
        eprintln!(
            "retain_owned: {} in use after dropping both bursts, baseline {baseline}",
            pool.in_use()
        );
        failures += 1;
    }
    failures
}
