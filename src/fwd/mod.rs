//! Forwarding decisions (placeholder until the forwarding module lands).
