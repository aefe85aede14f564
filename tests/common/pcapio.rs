//! Reading and writing classic pcap files (Ethernet link type) with the
//! `pcap-file` crate: the input and output of every pcap-in/pcap-out test.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;
use std::time::Duration;

use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};

/// Writes `frames` as an Ethernet pcap, one microsecond apart.
pub fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let file = File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    let mut w = PcapWriter::new(BufWriter::new(file)).expect("pcap header");
    for (i, f) in frames.iter().enumerate() {
        let ts = Duration::from_micros(1_000_000 + i as u64);
        w.write_packet(&PcapPacket::new(ts, f.len() as u32, f))
            .expect("pcap packet");
    }
    let mut inner = w.into_writer();
    std::io::Write::flush(&mut inner).expect("flush pcap");
}

/// Reads every frame of a pcap file. Fails the test if a frame was captured
/// shorter than it was on the wire (napifwd's pcap port must not truncate).
pub fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    read_pcap_ts(path).into_iter().map(|(_, f)| f).collect()
}

/// [`read_pcap`] with each frame's timestamp (net_pcap writes nanosecond
/// pcaps stamped with the TSC-based clock at `tx_burst` time, the same clock
/// for every queue, so timestamps of different queues' files compare).
pub fn read_pcap_ts(path: &Path) -> Vec<(Duration, Vec<u8>)> {
    let file = File::open(path).unwrap_or_else(|e| {
        panic!(
            "open output pcap {}: {e} (did napifwd create its tx_pcap?)",
            path.display()
        )
    });
    let mut r = PcapReader::new(BufReader::new(file))
        .unwrap_or_else(|e| panic!("{}: not a pcap file: {e}", path.display()));
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.unwrap_or_else(|e| panic!("{}: bad packet record: {e}", path.display()));
        assert_eq!(
            p.orig_len as usize,
            p.data.len(),
            "{}: frame {} captured truncated",
            path.display(),
            out.len()
        );
        out.push((p.timestamp, p.data.into_owned()));
    }
    out
}
