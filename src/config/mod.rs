//! The TOML configuration (placeholder until the config module lands).
