//! From `[eal]` and `[[ports]]` to the EAL argv, and the DPDK syntaxes the
//! config borrows: lcore lists and maps, device specs, PCI addresses.
//!
//! Pure string work: nothing here touches DPDK. The argv rules follow DPDK
//! 22.11's EAL (`lib/eal/common/eal_common_options.c`).

use std::collections::BTreeSet;

use super::types::{Config, LogLevel};

/// DPDK's `RTE_MAX_LCORE` as Debian's DPDK 22.11 is built: lcore ids are `0..128`.
pub const MAX_LCORE: u32 = 128;

/// glibc's `CPU_SETSIZE`: the physical CPU ids an `--lcores` map may pin to.
const MAX_CPU: u32 = 1024;

/// Driver-name prefixes of DPDK virtual devices (`--vdev`); anything else is
/// a bus address for `-a`.
pub const VDEV_PREFIXES: &[&str] = &[
    "net_",
    "eth_",
    "crypto_",
    "event_",
    "baseband_",
    "compress_",
    "dma_",
    "raw_",
    "gpu_",
    "regex_",
    "ml_",
];

/// The device name in a device spec: the part before the first `,` (the
/// devargs follow it). This is what `rte_eth_dev_get_port_by_name` takes.
pub fn port_device_name(device: &str) -> &str {
    device.split_once(',').map_or(device, |(name, _)| name)
}

/// True when `device` names a virtual device (`net_pcap0,...`).
pub fn is_vdev(device: &str) -> bool {
    let name = port_device_name(device);
    VDEV_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// A PCI address as `(domain, bus, device, function)`, when `device`'s name
/// is one: `DDDD:BB:DD.F` or `BB:DD.F` (domain 0), hex, as `-a` takes it.
pub fn pci_address(device: &str) -> Option<(u32, u8, u8, u8)> {
    let name = port_device_name(device);
    let hex = |s: &str, width: std::ops::RangeInclusive<usize>| -> Option<u32> {
        (width.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u32::from_str_radix(s, 16).ok())
            .flatten()
    };
    let (rest, function) = name.rsplit_once('.')?;
    let function = hex(function, 1..=1).filter(|&f| f <= 7)?;
    let mut parts: Vec<&str> = rest.split(':').collect();
    let slot = hex(parts.pop()?, 2..=2).filter(|&d| d <= 0x1f)?;
    let bus = hex(parts.pop()?, 2..=2)?;
    let domain = match parts.as_slice() {
        [] => 0,
        [d] => hex(d, 4..=8)?,
        _ => return None,
    };
    Some((domain, bus as u8, slot as u8, function as u8))
}

/// True when `device` is a PCI address.
pub fn is_pci(device: &str) -> bool {
    pci_address(device).is_some()
}

/// The logical lcore ids of a DPDK `-l` list (`"0-3,5"`) or `--lcores` map
/// (`"0@0,1@1,2@1"`, `"(0-2)@1"`, `"3@(0,1)"`).
///
/// Grammar (DPDK's `eal_parse_lcores`): `entry (',' entry)*` where
/// `entry = set ('@' set)?` and `set = range | '(' range (',' range)* ')'`,
/// `range = N ('-' N)?`. The set before `@` is the lcores; the one after is
/// the physical CPUs they run on, checked but not returned. Like DPDK,
/// `3-1` means `1-3` and blanks between tokens are ignored.
pub fn parse_lcore_set(s: &str) -> Result<BTreeSet<u32>, String> {
    let mut p = LcoreParser {
        text: s,
        pos: 0,
        lcores: BTreeSet::new(),
    };
    p.parse_map().map_err(|why| {
        format!(
            "invalid lcore list {s:?}: {why}; write a DPDK -l list like \"0-3,5\" \
             or an --lcores map like \"0@0,(1-2)@1\""
        )
    })?;
    Ok(p.lcores)
}

struct LcoreParser<'a> {
    text: &'a str,
    pos: usize,
    lcores: BTreeSet<u32>,
}

impl LcoreParser<'_> {
    fn skip_blanks(&mut self) {
        let rest = &self.text[self.pos..];
        self.pos += rest.len() - rest.trim_start_matches([' ', '\t']).len();
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_blanks();
        self.text.as_bytes().get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn unexpected(&mut self, wanted: &str) -> String {
        match self.peek() {
            Some(_) => {
                let ch = self.text[self.pos..].chars().next().unwrap_or(' ');
                format!("expected {wanted} at position {}, found {ch:?}", self.pos)
            }
            None => format!("expected {wanted} at the end"),
        }
    }

    fn parse_map(&mut self) -> Result<(), String> {
        loop {
            let lcores = self.parse_set(MAX_LCORE, "lcore")?;
            let pinned = self.eat(b'@');
            if pinned {
                self.parse_set(MAX_CPU, "cpu")?;
            }
            self.lcores.extend(lcores);
            match self.peek() {
                None => return Ok(()),
                Some(b',') => self.pos += 1,
                Some(_) if pinned => return Err(self.unexpected("','")),
                Some(_) => return Err(self.unexpected("',' or '@'")),
            }
        }
    }

    /// `range` or `'(' range (',' range)* ')'`; ids must be below `limit`.
    fn parse_set(&mut self, limit: u32, what: &str) -> Result<BTreeSet<u32>, String> {
        let mut set = BTreeSet::new();
        if !self.eat(b'(') {
            self.parse_range(&mut set, limit, what)?;
            return Ok(set);
        }
        loop {
            self.parse_range(&mut set, limit, what)?;
            if self.eat(b')') {
                return Ok(set);
            }
            if !self.eat(b',') {
                return Err(self.unexpected("',' or ')'"));
            }
        }
    }

    fn parse_range(
        &mut self,
        set: &mut BTreeSet<u32>,
        limit: u32,
        what: &str,
    ) -> Result<(), String> {
        let first = self.parse_number(limit, what)?;
        let last = if self.eat(b'-') {
            self.parse_number(limit, what)?
        } else {
            first
        };
        set.extend(first.min(last)..=first.max(last));
        Ok(())
    }

    fn parse_number(&mut self, limit: u32, what: &str) -> Result<u32, String> {
        self.skip_blanks();
        let rest = &self.text[self.pos..];
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(self.unexpected(&format!("{what} number")));
        }
        let n = rest[..digits]
            .parse::<u32>()
            .ok()
            .filter(|&n| n < limit)
            .ok_or_else(|| {
                format!(
                    "{what} {} is out of range (DPDK allows 0..{limit})",
                    &rest[..digits]
                )
            })?;
        self.pos += digits;
        Ok(n)
    }
}

/// DPDK's log level for napifwd's: one step quieter, so `info` does not
/// fill the log with every driver's probe messages.
pub fn dpdk_log_level(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Error => "error",
        LogLevel::Warn => "warning",
        LogLevel::Info => "notice",
        LogLevel::Debug => "info",
        LogLevel::Trace => "debug",
    }
}

/// The EAL argv (`prog` first) for `cfg`, to hand to `rte_eal_init`.
///
/// - `-l LCORES`, or `--lcores LCORES` when it is a map (contains `@` or `(`),
///   then `--main-lcore N`;
/// - `no_huge`: `--no-huge -m MEMORY_MB`, plus `--no-shconf` when
///   `in_memory` (DPDK 22.11 refuses `--in-memory` with `--no-huge`: it
///   implies `--legacy-mem`), else `--file-prefix PREFIX`;
/// - hugepages: `-m MEMORY_MB --iova-mode=va|pa`, then `--in-memory` or
///   `--file-prefix PREFIX`;
/// - per port: `--vdev SPEC` for virtual devices, `-a SPEC` for the rest;
///   `--no-pci` when no port is a PCI device (no scan, no probe of host NICs);
/// - `--log-level=*:LEVEL` from [`dpdk_log_level`];
/// - `eal.args` verbatim, last, so they can override.
pub fn eal_args(cfg: &Config, prog: &str) -> Vec<String> {
    let eal = &cfg.eal;
    let mut args: Vec<String> = vec![prog.to_owned()];
    let mut push = |items: &[&str]| args.extend(items.iter().map(|s| (*s).to_owned()));

    let lcore_flag = if eal.lcores.contains(['@', '(']) {
        "--lcores"
    } else {
        "-l"
    };
    push(&[lcore_flag, &eal.lcores]);
    push(&["--main-lcore", &eal.main_lcore.to_string()]);

    let memory_mb = eal.memory_mb.to_string();
    if eal.no_huge {
        push(&["--no-huge", "-m", &memory_mb]);
        if eal.in_memory {
            push(&["--no-shconf"]);
        } else {
            push(&["--file-prefix", &eal.file_prefix]);
        }
    } else {
        push(&["-m", &memory_mb]);
        push(&[&format!("--iova-mode={}", eal.iova_mode.as_str())]);
        if eal.in_memory {
            push(&["--in-memory"]);
        } else {
            push(&["--file-prefix", &eal.file_prefix]);
        }
    }

    for port in &cfg.ports {
        let flag = if is_vdev(&port.device) {
            "--vdev"
        } else {
            "-a"
        };
        push(&[flag, &port.device]);
    }
    if !cfg.ports.iter().any(|p| is_pci(&p.device)) {
        push(&["--no-pci"]);
    }
    push(&[&format!("--log-level=*:{}", dpdk_log_level(cfg.log.level))]);

    args.extend(eal.args.iter().cloned());
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::types::{IovaMode, PortConfig};
    use proptest::prelude::*;

    fn set(ids: &[u32]) -> BTreeSet<u32> {
        ids.iter().copied().collect()
    }

    #[test]
    fn lcore_lists() {
        assert_eq!(parse_lcore_set("0").unwrap(), set(&[0]));
        assert_eq!(parse_lcore_set("0-3,5").unwrap(), set(&[0, 1, 2, 3, 5]));
        assert_eq!(parse_lcore_set("3-1").unwrap(), set(&[1, 2, 3]));
        assert_eq!(parse_lcore_set(" 1 , 2 - 3 ").unwrap(), set(&[1, 2, 3]));
        assert_eq!(parse_lcore_set("127").unwrap(), set(&[127]));
    }

    #[test]
    fn lcore_maps() {
        assert_eq!(parse_lcore_set("0@0,1@1,2@1").unwrap(), set(&[0, 1, 2]));
        assert_eq!(parse_lcore_set("(0-2)@1").unwrap(), set(&[0, 1, 2]));
        assert_eq!(parse_lcore_set("3@(0,1)").unwrap(), set(&[3]));
        assert_eq!(
            parse_lcore_set("(0,4-5)@(0-1,3),7,8@900").unwrap(),
            set(&[0, 4, 5, 7, 8])
        );
    }

    #[test]
    fn lcore_errors_say_what_and_how() {
        for (bad, why) in [
            ("", "expected lcore number at the end"),
            ("0-", "expected lcore number at the end"),
            ("a", "expected lcore number at position 0, found 'a'"),
            ("0,,1", "expected lcore number at position 2"),
            ("(0-2", "expected ',' or ')' at the end"),
            ("0@", "expected cpu number at the end"),
            ("0@1@2", "expected ',' at position 3, found '@'"),
            ("0 1", "expected ',' or '@' at position 2, found '1'"),
            ("128", "lcore 128 is out of range (DPDK allows 0..128)"),
            ("1@1024", "cpu 1024 is out of range"),
            ("99999999999", "out of range"),
            ("0x1", "at position 1"),
        ] {
            let e = parse_lcore_set(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
            assert!(e.contains("\"0-3,5\""), "{bad:?}: no example in {e}");
        }
    }

    /// A tiny model: a list of disjoint entries, each a set of ranges, some
    /// pinned to a CPU set. Rendering it in DPDK syntax and parsing must give
    /// the union of the lcore ranges.
    fn arb_range(max: u32) -> impl Strategy<Value = (u32, u32)> {
        (0..max, 0..max)
    }

    fn render_range((a, b): (u32, u32)) -> String {
        if a == b {
            a.to_string()
        } else {
            format!("{a}-{b}")
        }
    }

    fn render_set(ranges: &[(u32, u32)]) -> String {
        if ranges.len() == 1 {
            render_range(ranges[0])
        } else {
            let inner: Vec<String> = ranges.iter().copied().map(render_range).collect();
            format!("({})", inner.join(","))
        }
    }

    proptest! {
        #[test]
        fn lcore_parsing_matches_model(
            entries in prop::collection::vec(
                (prop::collection::vec(arb_range(MAX_LCORE), 1..4),
                 prop::option::of(prop::collection::vec(arb_range(MAX_CPU), 1..3))),
                1..6)
        ) {
            let mut text = Vec::new();
            let mut model = BTreeSet::new();
            for (lcores, cpus) in &entries {
                for &(a, b) in lcores {
                    model.extend(a.min(b)..=a.max(b));
                }
                let mut entry = render_set(lcores);
                if let Some(cpus) = cpus {
                    entry.push('@');
                    entry.push_str(&render_set(cpus));
                }
                text.push(entry);
            }
            let text = text.join(",");
            prop_assert_eq!(parse_lcore_set(&text).unwrap(), model, "{}", text);
        }

        #[test]
        fn lcore_parsing_never_panics(s in "[0-9@(),\\- a]{0,16}") {
            let _ = parse_lcore_set(&s);
        }
    }

    #[test]
    fn device_names() {
        assert_eq!(
            port_device_name("net_pcap0,rx_pcap=a.pcap,tx_pcap=b"),
            "net_pcap0"
        );
        assert_eq!(port_device_name("0000:03:00.0"), "0000:03:00.0");
        assert_eq!(
            port_device_name("0000:03:00.0,txq_inline=128"),
            "0000:03:00.0"
        );
        assert_eq!(port_device_name(""), "");
        assert!(is_vdev("net_null0"));
        assert!(is_vdev("eth_pcap0,iface=lo"));
        assert!(!is_vdev("0000:03:00.0"));
        assert!(!is_vdev("xnet_null0"));
    }

    #[test]
    fn pci_addresses() {
        assert_eq!(pci_address("0000:03:00.0"), Some((0, 3, 0, 0)));
        assert_eq!(pci_address("03:00.1"), Some((0, 3, 0, 1)));
        assert_eq!(pci_address("0001:af:1f.7,foo=1"), Some((1, 0xaf, 0x1f, 7)));
        for bad in [
            "net_null0",
            "0000:03:00",
            "0000:03:20.0",
            "0000:03:00.8",
            "000:03:00.0",
            "0000:3:00.0",
            "1:0000:03:00.0",
            "eth0",
            "",
        ] {
            assert_eq!(pci_address(bad), None, "{bad}");
        }
    }

    fn port(name: &str, device: &str) -> PortConfig {
        PortConfig {
            name: name.into(),
            device: device.into(),
            ..PortConfig::default()
        }
    }

    #[test]
    fn eal_args_no_hugepages_vdevs() {
        let mut cfg = Config {
            ports: vec![
                port("wan", "net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap"),
                port("lan", "net_null0"),
            ],
            ..Config::default()
        };
        assert_eq!(
            eal_args(&cfg, "napifwd"),
            [
                "napifwd",
                "-l",
                "0-1",
                "--main-lcore",
                "0",
                "--no-huge",
                "-m",
                "1024",
                "--no-shconf",
                "--vdev",
                "net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap",
                "--vdev",
                "net_null0",
                "--no-pci",
                "--log-level=*:notice",
            ]
        );
        // Without hugepages, --in-memory is never passed: DPDK 22.11 rejects it.
        assert!(!eal_args(&cfg, "x").contains(&"--in-memory".to_owned()));

        cfg.eal.in_memory = false;
        cfg.eal.file_prefix = "fwd1".into();
        let args = eal_args(&cfg, "x");
        assert!(!args.contains(&"--no-shconf".to_owned()));
        assert!(
            args.windows(2).any(|w| w == ["--file-prefix", "fwd1"]),
            "{args:?}"
        );
    }

    #[test]
    fn eal_args_hugepages_pci() {
        let mut cfg = Config::default();
        cfg.eal.no_huge = false;
        cfg.eal.memory_mb = 2048;
        cfg.eal.iova_mode = IovaMode::Pa;
        cfg.eal.lcores = "(0-1)@0,2@2".into();
        cfg.eal.args = vec!["--huge-unlink".into(), "-n".into(), "4".into()];
        cfg.log.level = LogLevel::Debug;
        cfg.ports = vec![
            port("wan", "0000:03:00.0"),
            port("tap", "net_tap0,iface=t0"),
        ];
        assert_eq!(
            eal_args(&cfg, "/usr/bin/napifwd"),
            [
                "/usr/bin/napifwd",
                "--lcores",
                "(0-1)@0,2@2",
                "--main-lcore",
                "0",
                "-m",
                "2048",
                "--iova-mode=pa",
                "--in-memory",
                "-a",
                "0000:03:00.0",
                "--vdev",
                "net_tap0,iface=t0",
                "--log-level=*:info",
                "--huge-unlink",
                "-n",
                "4",
            ]
        );
        assert!(!eal_args(&cfg, "x").contains(&"--no-huge".to_owned()));

        cfg.eal.in_memory = false;
        let args = eal_args(&cfg, "x");
        assert!(!args.contains(&"--in-memory".to_owned()));
        assert!(
            args.windows(2).any(|w| w == ["--file-prefix", "napifwd"]),
            "{args:?}"
        );
    }

    #[test]
    fn lcores_map_detection() {
        let mut cfg = Config::default();
        cfg.eal.lcores = "0-3,5".into();
        assert_eq!(eal_args(&cfg, "x")[1], "-l");
        cfg.eal.lcores = "0@0,1@1".into();
        assert_eq!(eal_args(&cfg, "x")[1], "--lcores");
        cfg.eal.lcores = "(0,1)".into();
        assert_eq!(eal_args(&cfg, "x")[1], "--lcores");
    }

    #[test]
    fn log_levels_stay_one_step_quieter() {
        let level = |l| {
            let mut cfg = Config::default();
            cfg.log.level = l;
            eal_args(&cfg, "x").last().cloned().unwrap()
        };
        assert_eq!(level(LogLevel::Error), "--log-level=*:error");
        assert_eq!(level(LogLevel::Warn), "--log-level=*:warning");
        assert_eq!(level(LogLevel::Info), "--log-level=*:notice");
        assert_eq!(level(LogLevel::Trace), "--log-level=*:debug");
    }

    /// The no-hugepage argv, handed to the real EAL (through dpdk-testpmd,
    /// since one process gets one EAL): DPDK must accept it. Ignored by
    /// default: it needs DPDK installed and a few hundred MB; run with
    /// `cargo test eal_args_are_accepted_by_dpdk -- --ignored`.
    #[test]
    #[ignore]
    fn eal_args_are_accepted_by_dpdk() {
        use std::io::Write;
        use std::process::{Command, Stdio};

        let mut cfg = Config {
            ports: vec![port("a", "net_null0"), port("b", "net_null1,no-rx=1")],
            ..Config::default()
        };
        cfg.eal.memory_mb = 256;
        // No telemetry sockets left behind (EAL still creates an empty
        // /var/run/dpdk/rte runtime directory).
        cfg.eal.args = vec!["--no-telemetry".into()];
        for lcores in ["0-1", "(0-1)@0"] {
            cfg.eal.lcores = lcores.into();
            let args = eal_args(&cfg, "dpdk-testpmd");
            let child = Command::new("dpdk-testpmd")
                .args(&args[1..])
                .args(["--", "-i", "--total-num-mbufs=2048"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn();
            let Ok(mut child) = child else {
                eprintln!("dpdk-testpmd not installed: skipped");
                return;
            };
            child.stdin.take().unwrap().write_all(b"quit\n").unwrap();
            let out = child.wait_with_output().unwrap();
            let log = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{args:?}\n{log}");
            assert!(log.contains("Bye"), "{args:?}\n{log}");
        }
    }
}
