//! The benchmark scripts are not run by the suite (they need quiet CPUs
//! and minutes), but their arithmetic and syntax are: the RPS report's
//! self-test on synthetic counters, `bash -n` on every script, and the
//! cross-core probes refusing one CPU for both ends (line_pingpong would
//! spin forever) and the hand-off floor's arithmetic, and rps.sh refusing
//! a malformed option before it touches the machine.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command) -> std::process::Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

#[test]
fn rps_report_selftest_passes() {
    let out = run(Command::new("python3")
        .arg(repo().join("benches/rps_report.py"))
        .arg("selftest"));
    assert!(
        out.status.success(),
        "rps_report.py selftest failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bench_scripts_parse() {
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(repo().join("benches"))
        .expect("benches/")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "sh"))
        .collect();
    scripts.sort();
    assert!(scripts.len() >= 4, "benches/*.sh: {scripts:?}");
    for s in scripts {
        let out = run(Command::new("bash").arg("-n").arg(&s));
        assert!(
            out.status.success(),
            "{}: {}",
            s.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Builds `benches/NAME.c` with `cc -O2 -Wall -Wextra -pthread` and
/// `extra` flags; returns the binary.
fn build_probe(name: &str, extra: &[&str]) -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let out = run(Command::new("cc")
        .args(["-O2", "-Wall", "-Wextra", "-pthread"])
        .args(extra)
        .arg(repo().join(format!("benches/{name}.c")))
        .arg("-o")
        .arg(&bin));
    assert!(
        out.status.success(),
        "{name}.c does not build:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    bin
}

#[test]
fn line_pingpong_measures_a_round_trip_and_refuses_one_cpu() {
    let bin = build_probe("line_pingpong", &[]);
    let same = run(Command::new(&bin).args(["0", "0"]));
    assert_eq!(same.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&same.stderr).contains("must differ"));
    let out = run(Command::new(&bin).args(["0", "1", "20000"]));
    if String::from_utf8_lossy(&out.stderr).contains("cannot pin") {
        // CPUs 0 and 1 are not ours (a cpuset or a one-CPU machine).
        eprintln!("line_pingpong: CPUs 0 and 1 unavailable, run not checked");
    } else {
        let text = String::from_utf8_lossy(&out.stdout);
        let cycles: f64 = text
            .trim()
            .strip_prefix("round_trip_tsc_cycles=")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("unexpected output {text:?}"));
        assert!(cycles > 0.0, "{text}");
    }
}

/// The hand-off floor probe builds, refuses one CPU for both ends and bad
/// durations, and its overhead is its own three figures' arithmetic.
#[test]
fn handoff_floor_builds_refuses_bad_input_and_adds_up() {
    let bin = build_probe("handoff_floor", &["-Werror"]);
    for (args, text) in [
        (&["0", "0"][..], "must differ"),
        (&["0", "1", "0"][..], "SECONDS"),
        (&["0"][..], "usage"),
    ] {
        let bad = run(Command::new(&bin).args(args));
        assert_eq!(bad.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&bad.stderr).contains(text),
            "{args:?}"
        );
    }
    let out = run(Command::new(&bin).args(["0", "1", "0.2"]));
    if String::from_utf8_lossy(&out.stderr).contains("cannot pin") {
        eprintln!("handoff_floor: CPUs 0 and 1 unavailable, run not checked");
        return;
    }
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let value = |key: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {text:?}"))
    };
    let (single, rx, fwd) = (
        value("single_cycles_per_packet"),
        value("receiver_cycles_per_received"),
        value("forwarder_cycles_per_forwarded"),
    );
    assert!(single > 0.0 && rx > 0.0 && fwd > 0.0, "{text}");
    assert!(
        (value("overhead_fair") - (rx + fwd - single)).abs() < 0.2,
        "{text}"
    );
}

#[test]
fn rps_sh_rejects_a_bad_line_rt_gate() {
    for (args, want) in [
        (
            ["--line-rt-below", "fast"],
            "--line-rt-below must be a whole number of TSC cycles",
        ),
        (
            ["--line-rt-wait", "-3"],
            "--line-rt-wait must be a whole number of seconds",
        ),
    ] {
        let out = run(Command::new("bash")
            .arg(repo().join("benches/rps.sh"))
            .args(args));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}
