#!/usr/bin/env python3
"""Write a deterministic pcap mixing control and bulk traffic for flood demos.

Every 20th frame (5 %) is control: a TCP segment to port 179 (BGP) from
10.0.0.1 to 198.19.0.1. The rest is bulk: UDP to port 9 from 10.0.1.x to
198.18.1.x (250 flows). 64-byte frames on the wire (60 captured). The
conf/overload-*.toml examples route 198.19.0.0/16 (control) and
198.18.0.0/16 (bulk) to two different sink ports so that the delivered share
of each class can be read from the port counters.

    benches/gen_mix.py -o conf/flood-mix.pcap [-n 1000] [--control-every 20]
"""

import argparse
import struct


def csum(b: bytes) -> int:
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src, dst, proto, l4: bytes) -> bytes:
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0, 64, proto, 0, bytes(src), bytes(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + l4


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("-n", "--frames", type=int, default=1000)
    ap.add_argument("--control-every", type=int, default=20)
    a = ap.parse_args()
    eth = bytes.fromhex("020000000001" "020000000099" "0800")
    frames = []
    for i in range(a.frames):
        if i % a.control_every == 0:
            tcp = struct.pack("!HHIIBBHHH", 40000 + i % 20000, 179, 0, 0, 5 << 4, 0x10, 1000, 0, 0)
            frames.append(eth + ipv4([10, 0, 0, 1], [198, 19, 0, 1], 6, tcp))
        else:
            udp = struct.pack("!HHHH", 1000 + i % 60000, 9, 8 + 18, 0) + bytes(18)
            frames.append(eth + ipv4([10, 0, 1, i % 250], [198, 18, 1, i % 250], 17, udp))
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for f in frames:
        out += struct.pack("<IIII", 0, 0, len(f), len(f)) + f
    with open(a.output, "wb") as fh:
        fh.write(out)
    print(f"wrote {len(frames)} frames ({len(frames) // a.control_every} control) to {a.output}")


if __name__ == "__main__":
    main()
