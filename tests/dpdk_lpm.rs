//! DPDK's LPM tables (as napifwd loads them, default routes included)
//! against the pure-Rust reference model, on random route sets.
//!
//! One EAL per process: this test binary has its own `main` (harness =
//! false), starts the EAL once without hugepages, and runs every case.

#[path = "common/inproc.rs"]
mod inproc;

use napifwd::dpdk::Eal;
use napifwd::fwd::route::{RefLpm, RouteTable};
use napifwd::plan::L3Tables;
use napifwd::wire::{IpPrefix, MacAddr};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A small deterministic PRNG (xorshift64*): reproducible cases without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Random routes clustered in a few /8s (v4) and /16s (v6) so that prefixes
/// nest and overlap, which is where LPM implementations go wrong.
fn random_routes(rng: &mut Rng, n: usize) -> Vec<(IpPrefix, usize, MacAddr)> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    while out.len() < n {
        let prefix = if rng.below(2) == 0 {
            let len = rng.below(33) as u8;
            let addr = (10 + rng.below(3) as u32) << 24 | (rng.next() as u32 & 0x00ff_ffff);
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len))
            };
            IpPrefix::new(IpAddr::V4(Ipv4Addr::from(addr & mask)), len).unwrap()
        } else {
            let len = rng.below(129) as u8;
            let addr = (0x2001_0db8u128 + rng.below(3) as u128) << 96
                | (rng.next() as u128) << 32
                | rng.next() as u128;
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len))
            };
            IpPrefix::new(IpAddr::V6(Ipv6Addr::from(addr & mask)), len).unwrap()
        };
        if seen.insert(prefix) {
            let port = rng.below(4) as usize;
            let mac = MacAddr([2, 0, 0, 0, 0, rng.below(8) as u8]);
            out.push((prefix, port, mac));
        }
    }
    out
}

fn check_case(rng: &mut Rng, n_routes: usize) -> Result<(), String> {
    let routes = random_routes(rng, n_routes);
    let table = RouteTable::new(routes.clone()).map_err(|e| e.to_string())?;
    let model = RefLpm::new(&table);
    let dpdk = L3Tables::build(&table, 0).map_err(|e| e.to_string())?;
    for _ in 0..2000 {
        // Addresses near configured prefixes, and some anywhere.
        let (prefix, _, _) = routes[rng.below(routes.len() as u64) as usize];
        match prefix.addr() {
            IpAddr::V4(a) => {
                let addr = if rng.below(4) == 0 {
                    rng.next() as u32
                } else {
                    u32::from(a) ^ ((rng.next() as u32) >> rng.below(32))
                };
                let (want, got) = (model.lookup_v4(addr), dpdk.lookup4(addr));
                if want != got {
                    return Err(format!(
                        "{} -> model {want:?}, rte_lpm {got:?}; routes {routes:?}",
                        Ipv4Addr::from(addr)
                    ));
                }
            }
            IpAddr::V6(a) => {
                let flip = if rng.below(4) == 0 {
                    u128::MAX
                } else {
                    (rng.next() as u128) << 64 | rng.next() as u128
                };
                let addr = (u128::from(a) ^ (flip >> rng.below(129).min(127))).to_be_bytes();
                let (want, got) = (model.lookup_v6(&addr), dpdk.lookup6(&addr));
                if want != got {
                    return Err(format!(
                        "{} -> model {want:?}, rte_lpm6 {got:?}; routes {routes:?}",
                        Ipv6Addr::from(addr)
                    ));
                }
            }
        }
    }
    Ok(())
}

fn main() {
    let args = inproc::in_process_eal_args("dpdk_lpm", 256);
    let eal = Eal::init(&args).expect("EAL init without hugepages");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut failures = 0;
    for case in 0..60 {
        let n = 1 + (case % 20) * 3;
        if let Err(e) = check_case(&mut rng, n) {
            eprintln!("case {case} ({n} routes) FAILED: {e}");
            failures += 1;
        }
    }
    drop(eal);
    if failures > 0 {
        eprintln!("dpdk_lpm: {failures} case(s) failed");
        std::process::exit(1);
    }
    println!("dpdk_lpm: 60 random route sets, 120000 lookups: rte_lpm/rte_lpm6 agree with the reference model");
}
