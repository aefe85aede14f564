//! The body of the `config_loader` fuzz target
//! (`fuzz/fuzz_targets/config_loader.rs`), in the library so that a
//! stable-Rust proptest (below) runs the same code in CI, where cargo-fuzz
//! (nightly) does not run. Not part of the API: it panics when the loader
//! breaks one of its promises, which is what the fuzzer looks for.

use super::parse;

/// Parses arbitrary bytes as a config file and checks the loader's
/// promises: it never panics; a rejected file gets at least one error,
/// each with a one-line message and, when it names a line, one inside the
/// file; an accepted file's effective config (`to_toml`, what
/// `check-config` prints) parses back to the same config.
#[doc(hidden)]
pub fn config_loader(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse(text, "fuzz.toml") {
        Ok(cfg) => {
            let effective = cfg.to_toml();
            let again = parse(&effective, "effective.toml").unwrap_or_else(|e| {
                panic!("the effective config of an accepted file is rejected:\n{e}\n{effective}")
            });
            assert!(
                again == cfg,
                "the effective config parses to another config:\n{effective}\n{again:#?}\nvs\n{cfg:#?}"
            );
        }
        Err(errs) => {
            assert!(!errs.errors.is_empty(), "rejected without an error");
            // A line past the last one is fine when the text ends in a
            // newline (an error at the end of the file).
            let lines = text.lines().count() + 1;
            for e in &errs.errors {
                assert!(!e.message.trim().is_empty(), "empty message: {e:?}");
                assert!(!e.message.contains('\n'), "multi-line message: {e:?}");
                if let Some(l) = e.line {
                    assert!((1..=lines).contains(&l), "line {l} of {lines}: {e:?}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The bundled configs: mutating them reaches deeper than random text.
    const SEEDS: [&str; 7] = [
        include_str!("../../conf/demo.toml"),
        include_str!("../../conf/l2-xconnect.toml"),
        include_str!("../../conf/l3-router.toml"),
        include_str!("../../conf/overload-demote.toml"),
        include_str!("../../conf/overload-drop.toml"),
        include_str!("../../conf/overload-filter-bpf.toml"),
        include_str!("../../conf/overload-filter.toml"),
    ];

    /// What an edit writes: TOML's punctuation, digits, letters, quotes,
    /// brackets, a newline, and a few whole tokens that change types.
    fn fragment() -> impl Strategy<Value = String> {
        prop_oneof![
            "[ -~\n]{0,6}",
            Just("nan".to_owned()),
            Just("inf".to_owned()),
            Just("-1".to_owned()),
            Just("18446744073709551616".to_owned()),
            Just("[]".to_owned()),
            Just("\"\"".to_owned()),
            Just("{}".to_owned()),
            Just("\n[[ports]]\n".to_owned()),
        ]
    }

    /// Every seed is a valid config (so mutations start from accepted
    /// files), except that the BPF one names an object built from
    /// conf/overload-filter-bpf.c, which a clean checkout does not have.
    #[test]
    fn the_bundled_configs_pass_the_fuzz_checks() {
        for seed in SEEDS {
            config_loader(seed.as_bytes());
            match parse(seed, "seed.toml") {
                Ok(_) => {}
                Err(e) if seed.contains("bpf_object") => {
                    assert!(
                        e.errors.iter().all(|e| e.path.ends_with("bpf_object")),
                        "{e}"
                    );
                }
                Err(e) => panic!("{e}\n{seed}"),
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Stable-Rust run of the fuzz target on arbitrary bytes.
        #[test]
        fn config_loader_smoke_arbitrary(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            config_loader(&data);
        }

        /// ... and on the bundled configs with a few spans replaced.
        #[test]
        fn config_loader_smoke_mutated(
            seed in 0..SEEDS.len(),
            edits in proptest::collection::vec((any::<usize>(), 0usize..8, fragment()), 1..4),
        ) {
            let mut text = SEEDS[seed].to_owned();
            for (at, len, with) in edits {
                let mut start = at % (text.len() + 1);
                while !text.is_char_boundary(start) {
                    start -= 1;
                }
                let mut end = (start + len).min(text.len());
                while !text.is_char_boundary(end) {
                    end += 1;
                }
                text.replace_range(start..end, &with);
            }
            config_loader(text.as_bytes());
        }
    }
}
