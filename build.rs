//! Build script of the napifwd binary: records facts about the build that
//! `napifwd version` and `napifwd_build_info` report. The DPDK probing and
//! linking is done once, by `dpdk-sys`'s build script.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=.git/HEAD");
    // HEAD names a branch: a commit moves the branch's ref, not HEAD, so
    // watch that too (else the binary reports the commit of its first build).
    if let Ok(head) = std::fs::read_to_string(".git/HEAD") {
        if let Some(r) = head.strip_prefix("ref: ") {
            let path = format!(".git/{}", r.trim());
            if std::path::Path::new(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
    if std::path::Path::new(".git/packed-refs").exists() {
        println!("cargo:rerun-if-changed=.git/packed-refs");
    }
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=NAPIFWD_GIT_COMMIT={commit}");
    let profile = std::env::var("PROFILE").unwrap_or_default();
    println!("cargo:rustc-env=NAPIFWD_BUILD_PROFILE={profile}");
}
