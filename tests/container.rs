//! The container recipe, checked without a container engine (the
//! development machine has none): every file `docker/Dockerfile` copies
//! from the build context exists and is not excluded by `.dockerignore`,
//! and what the image runs by default (ENTRYPOINT and CMD's config) is a
//! file the image itself puts there.

use std::path::Path;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The JSON-array arguments of an exec-form instruction.
fn exec_form(line: &str) -> Vec<String> {
    let (_, rest) = line.split_once('[').expect("exec form");
    let body = rest.trim_end().trim_end_matches(']');
    body.split(',')
        .map(|a| a.trim().trim_matches('"').to_owned())
        .collect()
}

#[test]
fn dockerfile_copies_existing_files_and_runs_what_it_installs() {
    let text = std::fs::read_to_string(repo().join("docker/Dockerfile")).expect("Dockerfile");
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).expect(".dockerignore");
    let ignored: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let mut installed = Vec::new();
    let (mut entrypoint, mut cmd) = (Vec::new(), Vec::new());
    for line in text.lines().map(str::trim) {
        if let Some(args) = line.strip_prefix("COPY ") {
            let parts: Vec<&str> = args.split_whitespace().collect();
            let (srcs, dst) = parts.split_at(parts.len() - 1);
            installed.push(dst[0].to_owned());
            if srcs.first().is_some_and(|s| s.starts_with("--from=")) {
                continue;
            }
            for src in srcs.iter().filter(|s| **s != ".") {
                assert!(repo().join(src).exists(), "COPY {src}: no such file");
                assert!(
                    !ignored.iter().any(|i| src.starts_with(i)),
                    "COPY {src}: excluded by .dockerignore"
                );
            }
        } else if line.starts_with("ENTRYPOINT") {
            entrypoint = exec_form(line);
        } else if line.starts_with("CMD") {
            cmd = exec_form(line);
        }
    }
    assert!(
        installed.contains(&entrypoint[0]),
        "ENTRYPOINT {entrypoint:?} is not a file the image installs ({installed:?})"
    );
    let config = cmd
        .iter()
        .position(|a| a == "--config")
        .and_then(|i| cmd.get(i + 1))
        .unwrap_or_else(|| panic!("CMD {cmd:?} names no --config"));
    assert!(
        installed.contains(config),
        "CMD's config {config} is not a file the image installs ({installed:?})"
    );
    for kept in ["src", "Cargo.toml", "Cargo.lock", "dpdk-sys", "conf"] {
        assert!(
            !ignored.iter().any(|i| kept.starts_with(i)),
            ".dockerignore excludes {kept}, which the build needs"
        );
    }
}
