//! Loading, defaults, syntax/type errors, `to_toml` round trips, and the
//! repository's example configs. Per-rule validation tests are in `validate.rs`.

use super::*;
use crate::wire::{IpPrefix, MacAddr};

/// design.md §3's example, made consistent (it shows both `[[forward.l2]]`
/// and routes; l3 mode takes only routes) and with a `lan` port.
pub(super) const DESIGN_EXAMPLE: &str = r#"
[eal]
lcores = "0-1"            # passed as EAL -l (or --lcores when it contains '@')
main_lcore = 0
no_huge = true
memory_mb = 1024
in_memory = true
file_prefix = "napifwd"
iova_mode = "va"
args = []

[[ports]]
name = "wan"
device = "net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap"
rx_queues = 1
rx_descriptors = 1024
tx_descriptors = 1024
mtu = 1500
promiscuous = true
mac = "02:00:00:00:00:01"

[[ports]]
name = "lan"
device = "net_null0"

[workers]
lcores = [1]

[napi]
weight = 64
budget = 300
budget_us = 2000
backlog_weight = 64

[rps]
enabled = false
workers = []
hash = "auto"
symmetric = true
max_backlog = 1000
flow_limit = false
flow_limit_table_len = 4096
local_fast_path = true

[forward]
mode = "l3"

[[forward.routes]]
prefix = "198.18.0.0/15"
port = "lan"
next_hop_mac = "02:00:00:00:00:02"

[overload]
policy = "none"
high_watermark = 0.75
low_watermark = 0.25
enter_after_us = 1000
exit_after_us = 10000

[overload.demote]
fifo_priority = 10

[overload.filter]
when = "overload"
bpf_object = ""
[[overload.filter.rules]]
name = "keep-bgp"
proto = "tcp"
dst_port = 179
action = "pass"

[free]
mode = "owner"
defer_max = 128
max_age_us = 1000

[metrics]
listen = "127.0.0.1:9469"

[log]
level = "info"
"#;

/// The smallest useful config.
const MINIMAL: &str = r#"
[[ports]]
name = "wan"
device = "net_null0"

[[forward.routes]]
prefix = "0.0.0.0/0"
port = "wan"
next_hop_mac = "02:00:00:00:00:02"
"#;

fn mac(s: &str) -> MacAddr {
    s.parse().unwrap()
}

fn prefix(s: &str) -> IpPrefix {
    s.parse().unwrap()
}

/// The only error of a failed parse.
#[track_caller]
fn only_error(text: &str) -> ConfigError {
    let errs = parse(text, "t.toml").unwrap_err();
    assert_eq!(errs.len(), 1, "{errs}");
    errs.errors[0].clone()
}

#[test]
fn design_example_parses() {
    let cfg = parse(DESIGN_EXAMPLE, "design.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.ports.len(), 2);
    assert_eq!(cfg.ports[0].mac, Some(mac("02:00:00:00:00:01")));
    assert_eq!(cfg.ports[1].mac, None);
    assert_eq!(cfg.forward.routes[0].prefix, prefix("198.18.0.0/15"));
    let rule = &cfg.overload.filter.rules[0];
    assert_eq!(rule.proto, Some(IpProto::Tcp));
    assert_eq!(rule.dst_port, Some(179));
    assert_eq!(rule.action, RuleAction::Pass);
    // Every value the example spells out is the default, except free.mode:
    // design.md proposed owner, measurements made batch the default.
    assert_eq!(cfg.free.mode, FreeMode::Owner);
    let mut rest = cfg.clone();
    rest.ports.clear();
    rest.forward.routes.clear();
    rest.overload.filter.rules.clear();
    rest.free.mode = DEFAULT_FREE_MODE;
    assert_eq!(rest, Config::default());
}

#[test]
fn defaults_are_the_named_constants() {
    let cfg = parse(MINIMAL, "min.toml").unwrap_or_else(|e| panic!("{e}"));
    let e = &cfg.eal;
    assert_eq!(e.lcores, DEFAULT_EAL_LCORES);
    assert_eq!(e.main_lcore, DEFAULT_MAIN_LCORE);
    assert_eq!(e.no_huge, DEFAULT_NO_HUGE);
    assert_eq!(e.memory_mb, DEFAULT_MEMORY_MB);
    assert_eq!(e.in_memory, DEFAULT_IN_MEMORY);
    assert_eq!(e.file_prefix, DEFAULT_FILE_PREFIX);
    assert_eq!(e.iova_mode, DEFAULT_IOVA_MODE);
    assert!(e.args.is_empty());
    let p = &cfg.ports[0];
    assert_eq!(p.rx_queues, DEFAULT_RX_QUEUES);
    assert_eq!(p.rx_descriptors, DEFAULT_RX_DESCRIPTORS);
    assert_eq!(p.tx_descriptors, DEFAULT_TX_DESCRIPTORS);
    assert_eq!(p.mtu, DEFAULT_MTU);
    assert_eq!(p.promiscuous, DEFAULT_PROMISCUOUS);
    assert_eq!(cfg.workers.lcores, DEFAULT_WORKER_LCORES);
    let n = &cfg.napi;
    assert_eq!(n.weight, DEFAULT_NAPI_WEIGHT);
    assert_eq!(n.budget, DEFAULT_NAPI_BUDGET);
    assert_eq!(n.budget_us, DEFAULT_NAPI_BUDGET_US);
    assert_eq!(n.backlog_weight, DEFAULT_BACKLOG_WEIGHT);
    assert_eq!(n.idle, DEFAULT_IDLE_MODE);
    assert_eq!(n.park_after_rounds, DEFAULT_PARK_AFTER_ROUNDS);
    assert_eq!(n.max_sleep_us, DEFAULT_MAX_SLEEP_US);
    let r = &cfg.rps;
    assert_eq!(r.enabled, DEFAULT_RPS_ENABLED);
    assert!(r.workers.is_empty());
    assert_eq!(r.hash, DEFAULT_RPS_HASH);
    assert_eq!(r.symmetric, DEFAULT_RPS_SYMMETRIC);
    assert_eq!(r.max_backlog, DEFAULT_MAX_BACKLOG);
    assert_eq!(r.flow_limit, DEFAULT_FLOW_LIMIT);
    assert_eq!(r.flow_limit_table_len, DEFAULT_FLOW_LIMIT_TABLE_LEN);
    assert_eq!(r.local_fast_path, DEFAULT_LOCAL_FAST_PATH);
    let f = &cfg.forward;
    assert_eq!(f.mode, DEFAULT_FORWARD_MODE);
    assert_eq!(f.verify_ipv4_checksum, DEFAULT_VERIFY_IPV4_CHECKSUM);
    assert_eq!(f.tx_drain_us, DEFAULT_TX_DRAIN_US);
    let o = &cfg.overload;
    assert_eq!(o.policy, DEFAULT_OVERLOAD_POLICY);
    assert_eq!(o.high_watermark, DEFAULT_HIGH_WATERMARK);
    assert_eq!(o.low_watermark, DEFAULT_LOW_WATERMARK);
    assert_eq!(o.enter_after_us, DEFAULT_ENTER_AFTER_US);
    assert_eq!(o.exit_after_us, DEFAULT_EXIT_AFTER_US);
    assert_eq!(o.demote.fifo_priority, DEFAULT_FIFO_PRIORITY);
    assert_eq!(o.filter.when, DEFAULT_FILTER_WHEN);
    assert_eq!(o.filter.bpf_object, DEFAULT_BPF_OBJECT);
    assert_eq!(o.filter.default_action, DEFAULT_FILTER_ACTION);
    assert_eq!(cfg.free.mode, DEFAULT_FREE_MODE);
    assert_eq!(cfg.free.defer_max, DEFAULT_DEFER_MAX);
    assert_eq!(cfg.free.max_age_us, DEFAULT_MAX_AGE_US);
    assert_eq!(cfg.metrics.listen, DEFAULT_METRICS_LISTEN);
    assert_eq!(cfg.log.level, DEFAULT_LOG_LEVEL);
}

/// The values design.md promises (Linux's sysctl defaults where they exist),
/// pinned at compile time.
const _: () = {
    assert!(DEFAULT_NAPI_WEIGHT == 64); // net.core.dev_weight
    assert!(DEFAULT_NAPI_BUDGET == 300); // net.core.netdev_budget
    assert!(DEFAULT_NAPI_BUDGET_US == 2000); // net.core.netdev_budget_usecs
    assert!(DEFAULT_BACKLOG_WEIGHT == 64);
    assert!(DEFAULT_MAX_BACKLOG == 1000); // net.core.netdev_max_backlog
    assert!(DEFAULT_FLOW_LIMIT_TABLE_LEN == 4096); // net.core.flow_limit_table_len
    assert!(DEFAULT_DEFER_MAX == 128); // net.core.skb_defer_max
    assert!(DEFAULT_TX_DRAIN_US == 100); // l3fwd BURST_TX_DRAIN_US
    assert!(DEFAULT_VERIFY_IPV4_CHECKSUM); // RFC 1812 5.2.2
};

#[test]
fn rich_config_round_trips_through_to_toml() {
    let mut cfg = parse(DESIGN_EXAMPLE, "d.toml").unwrap();
    cfg.eal.lcores = "(0-1)@0,2@(1,2)".into();
    cfg.eal.args = vec!["--huge-unlink".into()];
    cfg.eal.iova_mode = IovaMode::Va;
    cfg.workers.lcores = vec![2, 1];
    cfg.rps.enabled = true;
    cfg.rps.workers = vec![2];
    cfg.napi.idle = IdleMode::Park;
    cfg.overload.policy = OverloadPolicy::Filter;
    cfg.overload.high_watermark = 0.9;
    cfg.overload.low_watermark = 0.1;
    cfg.forward.routes.push(Route {
        prefix: prefix("2001:db8::/32"),
        port: "wan".into(),
        next_hop_mac: mac("02:00:00:00:00:03"),
    });
    cfg.overload.filter.rules.push(FilterRule {
        name: "gre-limit".into(),
        ethertype: Some(0x0800),
        proto: Some(IpProto::Other(47)),
        src: Some(prefix("10.0.0.0/8")),
        dst: None,
        src_port: None,
        dst_port: None,
        dscp: Some(46),
        tcp_flags: None,
        action: RuleAction::RateLimit,
        pps: Some(1000),
        burst: Some(64),
    });
    cfg.overload.filter.rules.push(FilterRule {
        name: "syn".into(),
        ethertype: None,
        proto: Some(IpProto::Tcp),
        src: None,
        dst: Some(prefix("2001:db8::/32")),
        src_port: Some(1024),
        dst_port: None,
        dscp: None,
        tcp_flags: Some("syn,!ack".into()),
        action: RuleAction::Drop,
        pps: None,
        burst: None,
    });
    cfg.free.mode = FreeMode::Batch;
    cfg.metrics.listen = String::new();
    cfg.log.level = LogLevel::Trace;
    assert!(validate(&cfg).is_empty(), "{:?}", validate(&cfg));

    let text = cfg.to_toml();
    let back = parse(&text, "effective.toml").unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(back, cfg, "{text}");
}

#[test]
fn l2_config_round_trips_through_to_toml() {
    let text = r#"
[eal]
lcores = "0-1"
[[ports]]
name = "a"
device = "net_null0"
[[ports]]
name = "b"
device = "net_null1"
[forward]
mode = "l2"
[[forward.l2]]
input = "a"
output = "b"
dst_mac = "02:00:00:00:00:0b"
src_mac = "port"
[[forward.l2]]
input = "b"
output = "a"
src_mac = "02:00:00:00:00:0a"
"#;
    let cfg = parse(text, "l2.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.forward.l2[0].src_mac, Some(SrcMac::Port));
    assert_eq!(
        cfg.forward.l2[1].src_mac,
        Some(SrcMac::Mac(mac("02:00:00:00:00:0a")))
    );
    assert_eq!(cfg.forward.l2[1].dst_mac, None);
    let effective = cfg.to_toml();
    assert_eq!(parse(&effective, "e.toml").unwrap(), cfg, "{effective}");
}

#[test]
fn to_toml_spells_out_every_default() {
    let text = parse(MINIMAL, "m.toml").unwrap().to_toml();
    for key in [
        "[eal]",
        "lcores = \"0-1\"",
        "iova_mode = \"va\"",
        "[napi]",
        "weight = 64",
        "budget = 300",
        "idle = \"poll\"",
        "flow_limit_table_len = 4096",
        "verify_ipv4_checksum = true",
        "tx_drain_us = 100",
        "high_watermark = 0.75",
        "[overload.demote]",
        "default_action = \"pass\"",
        "mode = \"batch\"",
        "defer_max = 128",
        "listen = \"127.0.0.1:9469\"",
        "level = \"info\"",
    ] {
        assert!(text.contains(key), "{key} missing from\n{text}");
    }
}

#[test]
fn syntax_errors_keep_line_and_column() {
    let text = "[eal]\nlcores = 0-1\n";
    let e = only_error(text);
    assert_eq!(e.line, Some(2));
    assert_eq!(e.path, "");
    assert!(
        e.message.starts_with("invalid TOML at column "),
        "{}",
        e.message
    );
    assert!(!e.message.contains('\n'));

    let e = only_error("[eal]\nlcores = \"0-1\n");
    assert_eq!(e.line, Some(2));
    let e = only_error("[[ports]\n");
    assert_eq!(e.line, Some(1));
}

#[test]
fn type_errors_name_the_key() {
    let text = format!("{MINIMAL}\n[eal]\nmain_lcore = \"zero\"\n");
    let e = only_error(&text);
    assert_eq!(e.path, "eal.main_lcore");
    assert_eq!(e.line, Some(text.lines().count()));
    assert!(
        e.message
            .contains("invalid type: string \"zero\", expected u32"),
        "{}",
        e.message
    );

    let e = only_error(&format!("{MINIMAL}\n[workers]\nlcores = [1, -2]\n"));
    assert_eq!(e.path, "workers.lcores[1]");

    let e = only_error(&format!(
        "{MINIMAL}\n[[ports]]\nname = \"x\"\nmac = \"02:00\"\n"
    ));
    assert_eq!(e.path, "ports[1].mac");
    assert!(
        e.message.contains("expected six hex octets"),
        "{}",
        e.message
    );

    let e = only_error(&format!("{MINIMAL}\n[free]\nmode = 3\n"));
    assert_eq!(e.path, "free.mode");
    assert!(
        e.message
            .ends_with("expected \"immediate\", \"batch\" or \"owner\""),
        "{}",
        e.message
    );

    let e = only_error(&MINIMAL.replace("0.0.0.0/0", "10.0.0.1/8"));
    assert_eq!(e.path, "forward.routes[0].prefix");
    assert!(
        e.message.contains("did you mean 10.0.0.0/8"),
        "{}",
        e.message
    );
}

#[test]
fn unknown_keys_and_values_suggest_the_right_one() {
    let text = format!("{MINIMAL}\n[eal]\nlcore = \"0-1\"\n");
    let e = only_error(&text);
    assert_eq!(e.path, "eal.lcore");
    assert_eq!(e.line, Some(text.lines().count()));
    assert!(
        e.message.starts_with("unknown field `lcore`"),
        "{}",
        e.message
    );
    assert!(
        e.message.ends_with("did you mean `lcores`?"),
        "{}",
        e.message
    );

    let e = only_error(&format!("{MINIMAL}\n[forward]\nmode = \"l4\"\n"));
    assert_eq!(e.path, "forward.mode");
    assert!(e.message.contains("unknown variant `l4`"), "{}", e.message);
    assert!(e.message.ends_with("did you mean `l2`?"), "{}", e.message);

    let e = only_error(&format!("{MINIMAL}\n[napi]\nzzzzzz = 1\n"));
    assert!(!e.message.contains("did you mean"), "{}", e.message);

    let e = only_error(&format!("{MINIMAL}\n[nap]\nweight = 1\n"));
    assert_eq!(e.path, "nap");
    assert!(e.message.ends_with("did you mean `napi`?"), "{}", e.message);
}

#[test]
fn missing_required_fields_name_the_element() {
    let text = MINIMAL.replace("next_hop_mac = \"02:00:00:00:00:02\"\n", "");
    let e = only_error(&text);
    assert_eq!(e.path, "forward.routes[0]");
    assert_eq!(e.line, Some(6));
    assert_eq!(e.message, "missing field `next_hop_mac`");

    let text = format!("{MINIMAL}\n[[forward.routes]]\nprefix = \"10.0.0.0/8\"\nport = \"wan\"\n");
    let e = only_error(&text);
    assert_eq!(e.path, "forward.routes[1]");
    assert!(
        e.message.contains("missing field `next_hop_mac`"),
        "{}",
        e.message
    );
    assert_eq!(e.line, Some(MINIMAL.lines().count() + 2));
}

#[test]
fn all_semantic_errors_are_reported_in_file_order() {
    let text = r#"
[eal]
lcores = "0-1"
main_lcore = 7

[[ports]]
name = "wan"
device = "net_null0"
mtu = 20

[workers]
lcores = [1, 1]

[napi]
weight = 0

[[forward.routes]]
prefix = "0.0.0.0/0"
port = "lan2"
next_hop_mac = "02:00:00:00:00:02"
"#;
    let errs = parse(text, "many.toml").unwrap_err();
    let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "eal.main_lcore",
            "ports[0].mtu",
            "workers.lcores[1]",
            "napi.weight",
            "forward.routes[0].port",
        ],
        "{errs}"
    );
    let shown = errs.to_string();
    assert_eq!(shown.lines().count(), errs.len());
    assert!(
        shown.contains(
            "many.toml:19: forward.routes[0].port: unknown port \"lan2\" (known ports: wan)"
        ),
        "{shown}"
    );
}

#[test]
fn load_reads_files_and_reports_unreadable_ones() {
    let dir = std::env::temp_dir().join(format!("napifwd-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.toml");
    std::fs::write(&good, MINIMAL).unwrap();
    assert_eq!(load(&good).unwrap(), parse(MINIMAL, "x").unwrap());

    let missing = dir.join("missing.toml");
    let errs = load(&missing).unwrap_err();
    assert_eq!(errs.file, missing.display().to_string());
    assert!(
        errs.to_string().contains("cannot read the config"),
        "{errs}"
    );
    assert!(errs.to_string().contains("check the path"), "{errs}");

    let bad = dir.join("bad.toml");
    std::fs::write(&bad, format!("{MINIMAL}\n[napi]\nweight = 0\n")).unwrap();
    let errs = load(&bad).unwrap_err();
    assert!(
        errs.to_string().starts_with(&format!("{}:", bad.display())),
        "{errs}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every example config shipped in `conf/` must load.
#[test]
fn repository_configs_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("no {} directory: nothing to check", dir.display());
        return;
    };
    // conf/overload-filter-bpf.toml names the object built from
    // conf/overload-filter-bpf.c; build it the way its comment says.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let obj = root.join("target/overload-filter-bpf.o");
    if !obj.exists() {
        // CARGO_TARGET_DIR may point elsewhere: the directory may not exist.
        std::fs::create_dir_all(root.join("target")).unwrap();
        let built = std::process::Command::new("clang")
            .args(["-O2", "-target", "bpf", "-c"])
            .arg(root.join("conf/overload-filter-bpf.c"))
            .arg("-o")
            .arg(&obj)
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            built,
            "clang -target bpf failed on conf/overload-filter-bpf.c (is clang installed?)"
        );
    }
    // Relative paths in the examples (pcaps, the BPF object) are relative
    // to the repository root, which is where cargo runs unit tests.
    let mut checked = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            load(&path).unwrap_or_else(|e| panic!("{e}"));
            checked += 1;
        }
    }
    eprintln!("{checked} config(s) in {} parse", dir.display());
}

#[test]
fn edit_distances() {
    assert_eq!(edit_distance("lcore", "lcores"), 1);
    assert_eq!(edit_distance("", "abc"), 3);
    assert_eq!(edit_distance("kitten", "sitting"), 3);
    assert_eq!(edit_distance("same", "same"), 0);
}
