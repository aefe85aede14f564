//! The TOML configuration: types, loading, validation, and the EAL argv.
//!
//! One file configures everything (design.md §3 is the key contract). This
//! module owns:
//! - the types ([`Config`] and one struct per section), whose defaults are
//!   named `DEFAULT_*` constants, Linux's where Linux has the knob;
//! - [`load`] / [`parse`]: TOML syntax and type errors (with toml's own line
//!   and column), then [`validate`]: every semantic error, not just the first,
//!   each reported as `FILE:LINE: KEY.PATH: message`, the message naming the fix;
//! - [`Config::to_toml`]: the effective config for `napifwd check-config`;
//! - [`eal_args`]: the EAL argv, and the DPDK syntaxes the config borrows
//!   ([`parse_lcore_set`], [`port_device_name`]).
//!
//! Invariants: a `Config` returned by [`load`]/[`parse`] passed [`validate`],
//! so the application can rely on what it checks (port names resolve, lcores
//! are distinct, sizes are powers of two, ...) without checking again.
//! Nothing here touches DPDK or the network.

mod eal;
mod error;
#[doc(hidden)]
pub mod fuzz;
mod serde_impls;
mod spans;
mod types;
mod validate;

use std::path::Path;

pub use eal::{
    dpdk_log_level, eal_args, is_pci, is_vdev, parse_lcore_set, pci_address, port_device_name,
    MAX_LCORE, VDEV_PREFIXES,
};
pub use error::{ConfigError, ConfigErrors};
pub use types::*;
pub use validate::{
    parse_tcp_flags, validate, TcpFlags, FIFO_PRIORITIES, MAX_DESCRIPTORS, MAX_DSCP, MAX_MTU,
    MAX_RX_QUEUES, MAX_WEIGHT, MIN_DESCRIPTORS, MIN_ETHERTYPE, MIN_MTU, TCP_FLAG_NAMES,
};

use spans::SpanIndex;

/// Reads, parses and validates the config file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::InvalidData {
            "the config must be UTF-8 text"
        } else {
            "check the path and its permissions"
        };
        ConfigErrors {
            file: file.clone(),
            errors: vec![ConfigError::new(
                "",
                format!("cannot read the config: {e}: {hint}"),
            )],
        }
    })?;
    parse(&text, &file)
}

/// Parses and validates config `text`; `file_name` is what errors are reported against.
///
/// A syntax or type error stops there (one error); otherwise every semantic
/// error is returned, sorted by line (errors about keys the file does not
/// contain, i.e. defaults, last).
pub fn parse(text: &str, file_name: &str) -> Result<Config, ConfigErrors> {
    let fail = |errors| ConfigErrors {
        file: file_name.to_owned(),
        errors,
    };
    let doc = match toml_edit::ImDocument::parse(text.to_owned()) {
        Ok(doc) => doc,
        Err(e) => {
            let index = SpanIndex::lines_only(text);
            return Err(fail(vec![syntax_error(&e, &index, text)]));
        }
    };
    let index = SpanIndex::new(&doc, text);
    let cfg: Config = match toml_edit::de::from_document(doc) {
        Ok(cfg) => cfg,
        Err(e) => return Err(fail(vec![type_error(&e, &index, text)])),
    };
    let mut errors = validate(&cfg);
    for e in &mut errors {
        e.line = index.line_for_path(&e.path);
    }
    errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
    if errors.is_empty() {
        Ok(cfg)
    } else {
        Err(fail(errors))
    }
}

/// 1-based column, in characters, of byte `offset` in `text`.
fn column_of(text: &str, offset: usize) -> usize {
    let before = text.get(..offset.min(text.len())).unwrap_or_default();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    before[line_start..].chars().count() + 1
}

/// toml's messages span lines ("invalid string\nexpected ..."); ours do not.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

fn syntax_error(e: &toml_edit::TomlError, index: &SpanIndex, text: &str) -> ConfigError {
    let (line, column) = match e.span() {
        Some(span) => (
            Some(index.line_of(span.start)),
            Some(column_of(text, span.start)),
        ),
        None => (None, None),
    };
    let at = column
        .map(|c| format!(" at column {c}"))
        .unwrap_or_default();
    ConfigError {
        path: String::new(),
        line,
        message: format!("invalid TOML{at}: {}", one_line(e.message())),
    }
}

/// A serde error: toml's line and column, and the key path at its span (or,
/// for errors without a span, the keys toml collected while unwinding).
fn type_error(e: &toml_edit::de::Error, index: &SpanIndex, text: &str) -> ConfigError {
    let message = with_suggestion(&one_line(e.message()));
    match e.span() {
        Some(span) => {
            let path = index.path_at(span.start).unwrap_or_default().to_owned();
            let message = if path.is_empty() {
                format!("at column {}: {message}", column_of(text, span.start))
            } else {
                message
            };
            ConfigError {
                path,
                line: Some(index.line_of(span.start)),
                message,
            }
        }
        None => {
            // Without a span, toml's Display ends with "in `a.b`".
            let shown = e.to_string();
            let path = shown
                .lines()
                .filter_map(|l| l.strip_prefix("in `")?.strip_suffix('`'))
                .next_back()
                .unwrap_or_default()
                .to_owned();
            ConfigError {
                line: index.line_for_path(&path),
                path,
                message,
            }
        }
    }
}

/// Adds "did you mean `x`?" to serde's unknown field / variant messages
/// ("unknown field `lcore`, expected one of `lcores`, `main_lcore`").
fn with_suggestion(message: &str) -> String {
    let is_unknown = ["unknown field `", "unknown variant `"]
        .iter()
        .any(|p| message.starts_with(p));
    let mut names = message.split('`').skip(1).step_by(2);
    let (true, Some(given)) = (is_unknown, names.next()) else {
        return message.to_owned();
    };
    let best = names
        .map(|candidate| (edit_distance(given, candidate), candidate))
        .filter(|&(d, c)| d <= 2.max(c.len() / 3))
        .min_by_key(|&(d, _)| d);
    match best {
        Some((_, candidate)) => format!("{message}; did you mean `{candidate}`?"),
        None => message.to_owned(),
    }
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests;
