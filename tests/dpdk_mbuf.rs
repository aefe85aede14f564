//! What the RPS hand-off assumes about napifwd's mbufs, checked on real
//! DPDK pools: a freshly allocated mbuf's data starts at the fixed offset
//! the prefetches use (no dependent load of `buf_addr`), and prefetching
//! a pool cache's next allocations changes nothing about what comes out
//! or what goes back.
//!
//! One EAL per process: own `main` (harness = false), EAL without hugepages.

#[path = "common/inproc.rs"]
mod inproc;

use napifwd::dpdk::{Eal, Mbuf, MbufBurst, MbufRing, Mempool, PrefetchW};

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
    failures += in_use_is(&pool, baseline, "after freeing all");
    failures += retain_owned_partitions_in_place(&pool, baseline);
    failures += dequeue_reports_what_it_left(&pool, baseline);
    // Needs unwinding (the release profile aborts on panic).
    #[cfg(panic = "unwind")]
    {
        failures += retain_owned_leaks_but_never_double_frees_on_panic(&pool, baseline);
    }
    drop(eal);
    if failures > 0 {
        eprintln!("dpdk_mbuf: {failures} check(s) failed");
        std::process::exit(1);
    }
    eprintln!("dpdk_mbuf: ok");
}

/// 0 when the pool has exactly `want` mbufs in use, else 1 (and says so).
fn in_use_is(pool: &Mempool, want: u32, when: &str) -> u32 {
    let n = pool.in_use();
    if n == want {
        return 0;
    }
    eprintln!("{when}: {n} mbufs in use, want {want}");
    1
}

/// 32 fresh mbufs whose one data byte is their index, in order.
fn numbered_burst(pool: &Mempool) -> MbufBurst<32> {
    let mut burst = MbufBurst::new();
    for i in 0..32u8 {
        let mut m = pool.alloc().expect("mbuf");
        assert!(m.append(&[i]), "room for one byte");
        assert!(burst.push(m).is_ok(), "burst of 32 holds 32");
    }
    burst
}

/// The data bytes [`numbered_burst`] wrote, in the burst's order.
fn ids(b: &MbufBurst<32>) -> Vec<u8> {
    b.as_slice().iter().map(|m| m.data()[0]).collect()
}

/// `MbufBurst::retain_owned` (RPS steering's partition of an RX burst):
/// the kept mbufs stay at the front in order, the taken ones go where the
/// closure put them, in order, and nothing leaks or is freed twice.
fn retain_owned_partitions_in_place(pool: &Mempool, baseline: u32) -> u32 {
    let mut failures = 0;
    let mut burst = numbered_burst(pool);
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
    failures + in_use_is(pool, baseline, "retain_owned, both bursts dropped")
}

/// `RingConsumer::dequeue_burst_left` (the backlog poll's length and high
/// water come from it): what it took, and what the ring still holds.
fn dequeue_reports_what_it_left(pool: &Mempool, baseline: u32) -> u32 {
    let mut failures = 0;
    let (tx, mut rx) = MbufRing::create("dpdk_mbuf_left", 64, 0).expect("ring");
    let mut burst: MbufBurst<32> = MbufBurst::new();
    for _ in 0..2 {
        for _ in 0..20 {
            assert!(burst.push(pool.alloc().expect("mbuf")).is_ok());
        }
        assert_eq!(tx.enqueue_burst(&mut burst), 20, "a ring of 64 takes 20");
    }
    let mut got: MbufBurst<32> = MbufBurst::new();
    for (want, expect) in [(32, (32, 8)), (32, (8, 0)), (32, (0, 0))] {
        let step = rx.dequeue_burst_left(&mut got, want);
        if step != expect || rx.count() != expect.1 {
            eprintln!(
                "dequeue_burst_left({want}): {step:?}, ring count {}, want {expect:?}",
                rx.count()
            );
            failures += 1;
        }
        got.free_all();
    }
    failures + in_use_is(pool, baseline, "dequeue_burst_left")
}

/// A closure that panics half way through `retain_owned`: the kept mbufs
/// are still the burst's (freed with it), the taken ones where they went,
/// the one being judged is dropped by the unwinding closure, and the ones
/// not handed out yet leak. Never a double free: the pool then counts
/// exactly those as in use.
#[cfg(panic = "unwind")]
fn retain_owned_leaks_but_never_double_frees_on_panic(pool: &Mempool, baseline: u32) -> u32 {
    let mut burst = numbered_burst(pool);
    let mut taken: MbufBurst<32> = MbufBurst::new();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        burst.retain_owned(|m: Mbuf| match m.data()[0] {
            0..=4 => Some(m),
            5..=9 => {
                assert!(taken.push(m).is_ok());
                None
            }
            _ => panic!("judging packet {}", m.data()[0]),
        });
    }));
    std::panic::set_hook(hook);
    let kept = ids(&burst);
    let mut failures = 0;
    if outcome.is_ok() || kept != [0, 1, 2, 3, 4] || taken.len() != 5 {
        eprintln!(
            "retain_owned panic: ok={} kept {kept:?}, taken {}",
            outcome.is_ok(),
            taken.len()
        );
        failures += 1;
    }
    drop(burst);
    drop(taken);
    // Packets 11..32 were never handed out: leaked, not freed twice.
    failures + in_use_is(pool, baseline + 21, "retain_owned panic, 21 leaked")
}
