//! Config errors: each names the key it is about, the line that key is on,
//! and the fix. [`ConfigErrors`] prints them compiler style, one per line:
//! `FILE:LINE: KEY.PATH: message`.

use std::fmt;

/// One problem with a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key it is about, e.g. `forward.routes[2].port`; empty for the
    /// whole file (unreadable, or a syntax error no key can be named for).
    pub path: String,
    /// 1-based line in the file; `None` when the key is not in the file
    /// (a default) or the config did not come from a file.
    pub line: Option<usize>,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl ConfigError {
    /// An error about `path`, line not (yet) known.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            line: None,
            message: message.into(),
        }
    }
}

/// `KEY.PATH: message`, or just the message when the path is empty.
impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in one config file (never empty when returned as an error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors {
    /// The file name errors are reported against.
    pub file: String,
    /// The problems, in the order the file's sections are checked.
    pub errors: Vec<ConfigError>,
}

impl ConfigErrors {
    /// The errors.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.errors.iter()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}

/// One error per line: `FILE:LINE: KEY.PATH: message` (`FILE: ...` when the
/// line is unknown). No trailing newline.
impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            match e.line {
                Some(line) => write!(f, "{}:{line}: {e}", self.file)?,
                None => write!(f, "{}: {e}", self.file)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_error_per_line() {
        let errs = ConfigErrors {
            file: "napifwd.toml".into(),
            errors: vec![
                ConfigError {
                    path: "forward.routes[2].port".into(),
                    line: Some(17),
                    message: "unknown port \"lan2\" (known ports: wan, lan)".into(),
                },
                ConfigError::new("workers.lcores", "no workers"),
                ConfigError {
                    path: String::new(),
                    line: Some(3),
                    message: "invalid string".into(),
                },
            ],
        };
        assert_eq!(
            errs.to_string(),
            "napifwd.toml:17: forward.routes[2].port: unknown port \"lan2\" (known ports: wan, lan)\n\
             napifwd.toml: workers.lcores: no workers\n\
             napifwd.toml:3: invalid string"
        );
        assert_eq!(errs.len(), 3);
        assert_eq!((&errs).into_iter().count(), 3);
    }
}
