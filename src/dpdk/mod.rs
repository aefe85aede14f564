//! The safe layer over DPDK (placeholder).
