//! The benchmark scripts are not run by the suite (they need quiet CPUs
//! and minutes), but their arithmetic and syntax are: the RPS report's
//! self-test on synthetic counters, `bash -n` on every script, and the
//! cross-core probe refusing one CPU for both ends (it would spin forever),
//! and rps.sh refusing a malformed option before it touches the machine.

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

#[test]
fn line_pingpong_measures_a_round_trip_and_refuses_one_cpu() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let bin = dir.join("line_pingpong");
    let out = run(Command::new("cc")
        .args(["-O2", "-Wall", "-Wextra", "-pthread"])
        .arg(repo().join("benches/line_pingpong.c"))
        .arg("-o")
        .arg(&bin));
    assert!(
        out.status.success(),
        "line_pingpong.c does not build:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
