//! The CLI's error contract: `check-config` exits 78 (EX_CONFIG) and prints
//! each error as `FILE:LINE: key.path: message`; `run` fails with 78 on a bad
//! config, 1 on an EAL/runtime failure (with a message naming the culprit),
//! and 2 on a usage error.

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::packet::mac;
use common::*;

const EX_CONFIG: i32 = 78;
const EX_USAGE: i32 = 2;
const QUICK: Duration = Duration::from_secs(20);

/// A valid config with two ports, one worker and two routes. Bad configs are
/// made from it by replacing exactly one line.
fn good_config(dir: &TempDir) -> String {
    let rx = dir.join("in.pcap");
    pcapio::write_pcap(&rx, &[]);
    format!(
        r#"{eal}
[[ports]]
name = "wan"
device = "net_pcap0,rx_pcap={rx},tx_pcap={tx}"
mac = "02:00:00:00:00:01"

[[ports]]
name = "lan"
device = "net_null0"

[workers]
lcores = [1]

[forward]
mode = "l3"

[[forward.routes]]
prefix = "198.18.0.0/15"
port = "lan"
next_hop_mac = "02:00:00:00:00:02"

[[forward.routes]]
prefix = "2001:db8::/32"
port = "wan"
next_hop_mac = "02:00:00:00:00:03"

[metrics]
listen = ""
"#,
        eal = eal_section(),
        rx = rx.display(),
        tx = dir.join("out.pcap").display(),
    )
}

fn write(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write config");
    p
}

/// `text` with the one line equal to `old` (trimmed) replaced by `new`.
fn replace_line(text: &str, old: &str, new: &str) -> String {
    let hits = text.lines().filter(|l| l.trim() == old).count();
    assert_eq!(hits, 1, "{old:?} must be on exactly one line");
    text.lines()
        .map(|l| if l.trim() == old { new } else { l })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn check_config(dir: &TempDir, file: &Path) -> Output {
    napifwd(
        [OsStr::new("check-config"), file.as_os_str()],
        dir.path(),
        QUICK,
    )
}

/// Both spellings of an array index in a key path: `a.b[0].c` and `a.b.0.c`.
fn key_spellings(key: &str) -> Vec<String> {
    let dotted = key.replace('[', ".").replace(']', "");
    let mut v = vec![key.to_owned()];
    if dotted != key {
        v.push(dotted);
    }
    v
}

/// `rest` without a leading array index (`[3]` or `.3`), if it has one.
fn strip_index(rest: &str) -> &str {
    let (body, close) = if let Some(r) = rest.strip_prefix('[') {
        (r, true)
    } else if let Some(r) = rest.strip_prefix('.') {
        (r, false)
    } else {
        return rest;
    };
    let digits = body.len() - body.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return rest;
    }
    let after = &body[digits..];
    match (close, after.strip_prefix(']')) {
        (true, Some(a)) => a,
        (false, _) => after,
        (true, None) => rest,
    }
}

/// Some line of the output reads `FILE:LINE: KEY: message` (message not
/// empty). KEY may go one step further into an array (`workers.lcores[1]`
/// for `workers.lcores`): naming the element is naming the key.
fn assert_reports(out: &Output, file: &Path, line: usize, key: &str) {
    let prefix = format!("{}:{line}: ", file.display());
    let keys = key_spellings(key);
    let found = out.all().lines().any(|l| {
        l.strip_prefix(&prefix).is_some_and(|rest| {
            keys.iter().any(|k| {
                rest.strip_prefix(k.as_str())
                    .map(strip_index)
                    .and_then(|r| r.strip_prefix(':'))
                    .is_some_and(|msg| !msg.trim().is_empty())
            })
        })
    });
    assert!(
        found,
        "expected a line `{prefix}{key}: <message>`\n{}",
        out.describe()
    );
}

/// Writes `bad` (the good config with `old` replaced by `new`), runs
/// check-config and requires exit 78 and the error at `new`'s line.
fn expect_error(name: &str, old: &str, new: &str, key: &str) {
    let dir = TempDir::new(name);
    let text = replace_line(&good_config(&dir), old, new);
    let file = write(&dir, "bad.toml", &text);
    let out = check_config(&dir, &file);
    assert_eq!(
        out.code(),
        Some(EX_CONFIG),
        "check-config exit code\n{}",
        out.describe()
    );
    let first_line_of_new = new.lines().next().expect("replacement line");
    assert_reports(&out, &file, line_of(&text, first_line_of_new), key);
}

#[test]
fn good_config_passes() {
    let dir = TempDir::new("cfg_good");
    let file = write(&dir, "good.toml", &good_config(&dir));
    let out = check_config(&dir, &file);
    assert_eq!(
        out.code(),
        Some(0),
        "check-config on a good file\n{}",
        out.describe()
    );
}

#[test]
fn route_to_unknown_port() {
    expect_error(
        "cfg_unknown_port",
        r#"port = "lan""#,
        r#"port = "dmz""#,
        "forward.routes[0].port",
    );
}

#[test]
fn bad_prefixes() {
    for (i, bad) in [
        "198.18.0.0/33",
        "198.18.0/15",
        "198.18.0.256/24",
        "not-a-prefix",
        "198.18.0.0",
    ]
    .iter()
    .enumerate()
    {
        expect_error(
            &format!("cfg_bad_prefix{i}"),
            r#"prefix = "198.18.0.0/15""#,
            &format!("prefix = \"{bad}\""),
            "forward.routes[0].prefix",
        );
    }
    for (i, bad) in ["2001:db8::/129", "2001:db8:::/32", "2001:db8::/-1"]
        .iter()
        .enumerate()
    {
        expect_error(
            &format!("cfg_bad_prefix6_{i}"),
            r#"prefix = "2001:db8::/32""#,
            &format!("prefix = \"{bad}\""),
            "forward.routes[1].prefix",
        );
    }
}

#[test]
fn worker_lcore_listed_twice() {
    expect_error(
        "cfg_dup_lcore",
        "lcores = [1]",
        "lcores = [1, 1]",
        "workers.lcores",
    );
}

#[test]
fn unknown_keys() {
    // The key path names the misspelled key itself.
    let dir = TempDir::new("cfg_unknown_key_exact");
    let text = replace_line(
        &good_config(&dir),
        "[metrics]",
        "[napi]\nwieght = 64\n\n[metrics]",
    );
    let file = write(&dir, "bad.toml", &text);
    let out = check_config(&dir, &file);
    assert_eq!(out.code(), Some(EX_CONFIG), "{}", out.describe());
    assert_reports(&out, &file, line_of(&text, "wieght"), "napi.wieght");

    // Inside an array of tables.
    let dir = TempDir::new("cfg_unknown_key_port");
    let text = replace_line(
        &good_config(&dir),
        r#"device = "net_null0""#,
        "device = \"net_null0\"\nspeed = 10",
    );
    let file = write(&dir, "bad.toml", &text);
    let out = check_config(&dir, &file);
    assert_eq!(out.code(), Some(EX_CONFIG), "{}", out.describe());
    assert_reports(&out, &file, line_of(&text, "speed = 10"), "ports[1].speed");
}

#[test]
fn wrong_type() {
    expect_error(
        "cfg_wrong_type",
        "memory_mb = 256",
        r#"memory_mb = "lots""#,
        "eal.memory_mb",
    );
}

#[test]
fn every_error_is_reported() {
    let dir = TempDir::new("cfg_two_errors");
    let text = replace_line(&good_config(&dir), r#"port = "lan""#, r#"port = "dmz""#);
    let text = replace_line(&text, "lcores = [1]", "lcores = [1, 1]");
    let file = write(&dir, "bad.toml", &text);
    let out = check_config(&dir, &file);
    assert_eq!(out.code(), Some(EX_CONFIG), "{}", out.describe());
    assert_reports(
        &out,
        &file,
        line_of(&text, r#"port = "dmz""#),
        "forward.routes[0].port",
    );
    assert_reports(
        &out,
        &file,
        line_of(&text, "lcores = [1, 1]"),
        "workers.lcores",
    );
}

#[test]
fn missing_file_is_an_error_naming_it() {
    let dir = TempDir::new("cfg_missing");
    let file = dir.join("does-not-exist.toml");
    let out = check_config(&dir, &file);
    assert!(
        matches!(out.code(), Some(c) if c != 0 && c != 101),
        "check-config on a missing file must fail cleanly\n{}",
        out.describe()
    );
    assert!(
        out.all().contains("does-not-exist.toml"),
        "{}",
        out.describe()
    );
}

#[test]
fn the_pcap_test_configs_are_valid() {
    // The configs the pcap tests generate must pass check-config: if they
    // do not, the pcap tests fail for a reason that is not forwarding.
    let mut s = PcapSetup::new("cfg_pcap_l2");
    s.port("a", mac("02:00:00:00:00:0a"), &[]);
    s.port("b", mac("02:00:00:00:00:0b"), &[]);
    s.extra = "[forward]\nmode = \"l2\"\n\n[[forward.l2]]\ninput = \"a\"\noutput = \"b\"\n\
               dst_mac = \"02:00:00:00:01:01\"\nsrc_mac = \"port\"\n"
        .to_owned();
    let out = check_config(&s.dir, &s.write_config());
    assert_eq!(
        out.code(),
        Some(0),
        "{}\n{}",
        s.config_text(),
        out.describe()
    );

    s.extra = "[forward]\nmode = \"l3\"\n\n[[forward.routes]]\nprefix = \"198.18.0.0/15\"\n\
               port = \"b\"\nnext_hop_mac = \"02:00:00:00:00:02\"\n\n[[forward.routes]]\n\
               prefix = \"2001:db8:b::/48\"\nport = \"b\"\nnext_hop_mac = \"02:00:00:00:00:02\"\n"
        .to_owned();
    s.ports[1].mtu = Some(1280);
    let out = check_config(&s.dir, &s.write_config());
    assert_eq!(
        out.code(),
        Some(0),
        "{}\n{}",
        s.config_text(),
        out.describe()
    );
}

#[test]
fn run_with_a_bad_config_exits_78() {
    let dir = TempDir::new("run_bad_config");
    let text = replace_line(&good_config(&dir), "lcores = [1]", "lcores = [1, 1]");
    let file = write(&dir, "bad.toml", &text);
    let out = napifwd(
        [
            OsStr::new("run"),
            OsStr::new("--config"),
            file.as_os_str(),
            OsStr::new("--duration"),
            OsStr::new("1"),
        ],
        dir.path(),
        QUICK,
    );
    assert_eq!(out.code(), Some(EX_CONFIG), "{}", out.describe());
    assert!(out.all().contains("workers.lcores"), "{}", out.describe());
}

#[test]
fn run_with_an_unknown_vdev_exits_1_naming_it() {
    let dir = TempDir::new("run_bogus_vdev");
    let text = replace_line(
        &good_config(&dir),
        r#"device = "net_null0""#,
        r#"device = "net_bogus0""#,
    );
    let file = write(&dir, "bogus.toml", &text);
    let out = {
        let _g = dpdk_lock();
        napifwd(
            [
                OsStr::new("run"),
                OsStr::new("--config"),
                file.as_os_str(),
                OsStr::new("--duration"),
                OsStr::new("1"),
            ],
            dir.path(),
            RUN_TIMEOUT,
        )
    };
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    assert!(
        out.stderr.contains("net_bogus0"),
        "the error must name the device\n{}",
        out.describe()
    );
}

#[test]
fn run_without_hugepages_exits_1_with_a_hint() {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let total = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("HugePages_Total:"))
        .and_then(|v| v.trim().parse::<u64>().ok());
    if total != Some(0) {
        eprintln!("skipped: this machine has hugepages ({total:?})");
        return;
    }
    let dir = TempDir::new("run_no_hugepages");
    let text = replace_line(&good_config(&dir), "no_huge = true", "no_huge = false");
    let text = replace_line(
        &text,
        "in_memory = true",
        "in_memory = true\niova_mode = \"va\"",
    );
    let file = write(&dir, "huge.toml", &text);
    let out = {
        let _g = dpdk_lock();
        napifwd(
            [
                OsStr::new("run"),
                OsStr::new("--config"),
                file.as_os_str(),
                OsStr::new("--duration"),
                OsStr::new("1"),
            ],
            dir.path(),
            RUN_TIMEOUT,
        )
    };
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    assert!(
        out.stderr.contains("no_huge"),
        "the hint must say how to run without hugepages (eal.no_huge = true)\n{}",
        out.describe()
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = TempDir::new("usage");
    let cfg = write(&dir, "good.toml", &good_config(&dir));
    let cfg = cfg.to_str().expect("utf-8 path");
    let cases: &[&[&str]] = &[
        &[],
        &["frobnicate"],
        &["run"],
        &["run", "--config"],
        &["run", "--config", cfg, "--until-idle", "soon"],
        &["run", "--config", cfg, "--duration", "-3"],
        &["run", "--config", cfg, "--no-such-flag"],
        &["run", "--config", cfg, "--log-level", "chatty"],
        &["check-config"],
        &["check-config", cfg, "extra-arg"],
    ];
    for args in cases {
        let out = napifwd(args.iter(), dir.path(), QUICK);
        assert_eq!(
            out.code(),
            Some(EX_USAGE),
            "napifwd {args:?}\n{}",
            out.describe()
        );
        assert!(
            !out.stderr.trim().is_empty(),
            "napifwd {args:?}: usage errors explain themselves on stderr"
        );
    }
}

#[test]
fn version_names_napifwd_and_dpdk() {
    let dir = TempDir::new("version");
    let out = napifwd(["version"], dir.path(), QUICK);
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    assert!(
        out.stdout.contains(env!("CARGO_PKG_VERSION")),
        "{}",
        out.describe()
    );
    assert!(
        out.stdout.to_lowercase().contains("dpdk"),
        "{}",
        out.describe()
    );
}

#[test]
fn check_config_prints_an_effective_config_that_checks_again() {
    let dir = TempDir::new("cfg_round_trip");
    let file = write(&dir, "good.toml", &good_config(&dir));
    let first = check_config(&dir, &file);
    assert_eq!(first.code(), Some(0), "{}", first.describe());
    assert!(
        !first.stdout.trim().is_empty(),
        "no effective config printed"
    );
    let again = write(&dir, "effective.toml", &first.stdout);
    let second = check_config(&dir, &again);
    assert_eq!(
        second.code(),
        Some(0),
        "the effective config does not check\n{}",
        second.describe()
    );
    assert_eq!(
        second.stdout, first.stdout,
        "the effective config is not a fixed point"
    );
}

#[test]
fn run_with_a_missing_rx_pcap_exits_1_naming_it() {
    let dir = TempDir::new("run_missing_pcap");
    let missing = dir.join("no-such-input.pcap");
    let text = replace_line(
        &good_config(&dir),
        r#"device = "net_null0""#,
        &format!(
            "device = \"net_pcap1,rx_pcap={},tx_pcap={}\"",
            missing.display(),
            dir.join("x.pcap").display()
        ),
    );
    let file = write(&dir, "missing.toml", &text);
    let out = {
        let _g = dpdk_lock();
        napifwd(
            [
                OsStr::new("run"),
                OsStr::new("--config"),
                file.as_os_str(),
                OsStr::new("--duration"),
                OsStr::new("1"),
            ],
            dir.path(),
            RUN_TIMEOUT,
        )
    };
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    assert!(
        out.stderr.contains("net_pcap1"),
        "the error must name the device that failed\n{}",
        out.describe()
    );
}

#[test]
fn run_with_an_unwritable_stats_file_fails() {
    let dir = TempDir::new("run_bad_stats_path");
    let file = write(&dir, "good.toml", &good_config(&dir));
    let stats = dir.join("no-such-dir/stats.json");
    let out = {
        let _g = dpdk_lock();
        napifwd(
            [
                OsStr::new("run"),
                OsStr::new("--config"),
                file.as_os_str(),
                // (net_null0 receives forever: --until-idle would never end)
                OsStr::new("--duration"),
                OsStr::new("1"),
                OsStr::new("--stats-json"),
                stats.as_os_str(),
            ],
            dir.path(),
            RUN_TIMEOUT,
        )
    };
    assert_eq!(
        out.code(),
        Some(1),
        "a stats file that cannot be written is a runtime failure\n{}",
        out.describe()
    );
    assert!(
        out.stderr.contains("no-such-dir"),
        "the error must name the path\n{}",
        out.describe()
    );
}

#[test]
fn bad_next_hop_mac() {
    for (i, bad) in ["02:00:00:00:00", "02:00:00:00:00:0g", "router"]
        .iter()
        .enumerate()
    {
        expect_error(
            &format!("cfg_bad_mac{i}"),
            r#"next_hop_mac = "02:00:00:00:00:02""#,
            &format!("next_hop_mac = \"{bad}\""),
            "forward.routes[0].next_hop_mac",
        );
    }
}

#[test]
fn worker_lcore_outside_the_eal_lcores() {
    expect_error(
        "cfg_lcore_outside",
        "lcores = [1]",
        "lcores = [5]",
        "workers.lcores",
    );
}

#[test]
fn cross_connect_with_an_unknown_port() {
    let dir = TempDir::new("cfg_l2_unknown_port");
    let text = good_config(&dir);
    let start = text.find("[forward]").expect("forward section");
    let end = text.find("[metrics]").expect("metrics section");
    let text = format!(
        "{}[forward]\nmode = \"l2\"\n\n[[forward.l2]]\ninput = \"wan\"\noutput = \"lan\"\n\n\
         [[forward.l2]]\ninput = \"lan\"\noutput = \"dmz\"\n\n{}",
        &text[..start],
        &text[end..]
    );
    let file = write(&dir, "bad.toml", &text);
    let out = check_config(&dir, &file);
    assert_eq!(out.code(), Some(EX_CONFIG), "{}", out.describe());
    assert_reports(
        &out,
        &file,
        line_of(&text, r#"output = "dmz""#),
        "forward.l2[1].output",
    );
}
