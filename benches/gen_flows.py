#!/usr/bin/env python3
"""Write a deterministic pcap of N UDP flows, one frame per flow.

This is the traffic of the side-by-side benchmark (benches/compare.sh) and of
the bundled demo pcap. Same options in, byte-identical file out: no
randomness, fixed timestamps, no dependency beyond the Python standard library.

Frame size is the size *on the wire*, FCS included, the way RFC 2544 and
every packet generator count it. A pcap holds no FCS, so each captured frame
is FRAME_SIZE - 4 bytes: the classic 64-byte frame is 60 bytes in the file.
DPDK's net_pcap hands those 60 bytes to the application as the mbuf data,
exactly as a NIC would after stripping the FCS.

Flows are told apart by (src address, dst address, UDP source port):
  flow i -> dst host   = i mod D           (D usable hosts of --dst-prefix)
            UDP sport  = 1024 + i mod 64512
            src host   = (i div 64512) mod S  (S usable hosts of --src-prefix)
so every flow is distinct as long as flows <= 64512 * S, and destinations are
spread over the whole destination prefix.

Defaults match the routes that both contenders send to the sink port:
  IPv4 198.18.1.0/24     l3fwd's built-in LPM route to port 1
  IPv6 2001:200:0:1::/64 l3fwd's built-in LPM route to port 1
and napifwd's benches/napifwd-l3.toml routes the same prefixes to "sink".
"""

from __future__ import annotations

import argparse
import ipaddress
import struct
import sys

ETH_HDR_LEN = 14
IPV4_HDR_LEN = 20
IPV6_HDR_LEN = 40
UDP_HDR_LEN = 8
FCS_LEN = 4
MIN_FRAME_SIZE = 64  # Ethernet minimum, FCS included
MAX_FRAME_SIZE = 9018  # jumbo, FCS included
ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
IPPROTO_UDP = 17
SPORT_BASE = 1024
SPORT_COUNT = 65536 - SPORT_BASE
PCAP_MAGIC_US = 0xA1B2C3D4
LINKTYPE_ETHERNET = 1


def parse_mac(text: str) -> bytes:
    parts = text.split(":")
    if len(parts) != 6:
        raise argparse.ArgumentTypeError(f"not a MAC address: {text!r}")
    try:
        return bytes(int(p, 16) for p in parts)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a MAC address: {text!r}") from exc


def usable_hosts(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[int, int]:
    """First usable address (as int) and how many there are.

    For IPv4 prefixes shorter than /31 the network and broadcast addresses are
    skipped; a router may treat them specially and that is not what we measure.
    """
    first = int(net.network_address)
    count = net.num_addresses
    if net.version == 4 and net.prefixlen < 31:
        return first + 1, count - 2
    if net.version == 6 and net.prefixlen < 127:
        return first + 1, count - 1  # skip the subnet-router anycast address
    return first, count


def checksum16(data: bytes) -> int:
    """RFC 1071 Internet checksum."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp_header(sport: int, dport: int, payload: bytes, pseudo: bytes) -> bytes:
    length = UDP_HDR_LEN + len(payload)
    hdr = struct.pack("!HHHH", sport, dport, length, 0)
    csum = checksum16(pseudo + hdr + payload)
    if csum == 0:
        csum = 0xFFFF  # RFC 768: a computed zero is sent as all ones
    return struct.pack("!HHHH", sport, dport, length, csum)


def payload_for(flow: int, length: int) -> bytes:
    """Flow index first (lets a pcap test tell flows apart), zeros after."""
    tag = struct.pack("!I", flow & 0xFFFFFFFF)
    if length <= len(tag):
        return tag[:length]
    return tag + bytes(length - len(tag))


def ipv4_frame(args: argparse.Namespace, flow: int, src: int, dst: int, sport: int) -> bytes:
    captured = args.frame_size - FCS_LEN
    payload = payload_for(flow, captured - ETH_HDR_LEN - IPV4_HDR_LEN - UDP_HDR_LEN)
    total_len = IPV4_HDR_LEN + UDP_HDR_LEN + len(payload)
    src_b = src.to_bytes(4, "big")
    dst_b = dst.to_bytes(4, "big")
    pseudo = src_b + dst_b + struct.pack("!BBH", 0, IPPROTO_UDP, UDP_HDR_LEN + len(payload))
    udp = udp_header(sport, args.dst_port, payload, pseudo)
    ip_wo_csum = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,  # version 4, IHL 5
        0,  # DSCP/ECN
        total_len,
        flow & 0xFFFF,  # identification
        0x4000,  # DF, fragment offset 0
        args.ttl,
        IPPROTO_UDP,
        0,
        src_b,
        dst_b,
    )
    csum = checksum16(ip_wo_csum)
    ip = ip_wo_csum[:10] + struct.pack("!H", csum) + ip_wo_csum[12:]
    eth = args.dst_mac + args.src_mac + struct.pack("!H", ETHERTYPE_IPV4)
    return eth + ip + udp + payload


def ipv6_frame(args: argparse.Namespace, flow: int, src: int, dst: int, sport: int) -> bytes:
    captured = args.frame_size - FCS_LEN
    payload = payload_for(flow, captured - ETH_HDR_LEN - IPV6_HDR_LEN - UDP_HDR_LEN)
    udp_len = UDP_HDR_LEN + len(payload)
    src_b = src.to_bytes(16, "big")
    dst_b = dst.to_bytes(16, "big")
    pseudo = src_b + dst_b + struct.pack("!IxxxB", udp_len, IPPROTO_UDP)
    udp = udp_header(sport, args.dst_port, payload, pseudo)
    ip = struct.pack("!IHBB16s16s", 6 << 28, udp_len, IPPROTO_UDP, args.ttl, src_b, dst_b)
    eth = args.dst_mac + args.src_mac + struct.pack("!H", ETHERTYPE_IPV6)
    return eth + ip + udp + payload


def frames(args: argparse.Namespace):
    v4 = (args.dst_prefix, args.src_prefix)
    v6 = (args.dst_prefix6, args.src_prefix6)
    for flow in range(args.flows):
        if args.family == "4":
            use_v6 = False
        elif args.family == "6":
            use_v6 = True
        else:  # mixed: even flows IPv4, odd flows IPv6
            use_v6 = flow % 2 == 1
        dst_net, src_net = v6 if use_v6 else v4
        dst_first, dst_count = usable_hosts(dst_net)
        src_first, src_count = usable_hosts(src_net)
        dst = dst_first + flow % dst_count
        sport = SPORT_BASE + flow % SPORT_COUNT
        src = src_first + (flow // SPORT_COUNT) % src_count
        build = ipv6_frame if use_v6 else ipv4_frame
        yield build(args, flow, src, dst, sport)


def write_pcap(path: str, packets, snaplen: int) -> int:
    count = 0
    out = sys.stdout.buffer if path == "-" else open(path, "wb")
    try:
        out.write(struct.pack("<IHHiIII", PCAP_MAGIC_US, 2, 4, 0, 0, snaplen, LINKTYPE_ETHERNET))
        for i, pkt in enumerate(packets):
            # Fixed timestamps, 1 us apart: the file depends on the options only.
            ts_sec, ts_usec = divmod(i, 1_000_000)
            out.write(struct.pack("<IIII", ts_sec, ts_usec, len(pkt), len(pkt)))
            out.write(pkt)
            count += 1
    finally:
        if out is not sys.stdout.buffer:
            out.close()
    return count


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Frame size counts the 4-byte FCS; the pcap holds FRAME_SIZE-4 bytes per frame.",
    )
    p.add_argument("-o", "--output", required=True, help="pcap to write ('-' for stdout)")
    p.add_argument("-n", "--flows", type=int, default=1024, help="number of flows = frames (default 1024)")
    p.add_argument(
        "-s", "--frame-size", type=int, default=None,
        help="Ethernet frame size on the wire incl. FCS (default: the smallest that fits, "
        "64 for IPv4 = 60 bytes captured, 66 for IPv6 and mixed = 62 bytes captured)",
    )
    p.add_argument(
        "--family", choices=("4", "6", "mixed"), default="4",
        help="IPv4, IPv6, or mixed (even flows v4, odd flows v6); default 4",
    )
    p.add_argument("--ipv6", dest="family", action="store_const", const="6", help="same as --family 6")
    p.add_argument("--dst-prefix", type=ipaddress.IPv4Network, default="198.18.1.0/24",
                   help="IPv4 destinations are spread over this prefix (default 198.18.1.0/24)")
    p.add_argument("--src-prefix", type=ipaddress.IPv4Network, default="198.19.0.0/24",
                   help="IPv4 sources (default 198.19.0.0/24)")
    p.add_argument("--dst-prefix6", type=ipaddress.IPv6Network, default="2001:200:0:1::/64",
                   help="IPv6 destinations (default 2001:200:0:1::/64)")
    p.add_argument("--src-prefix6", type=ipaddress.IPv6Network, default="2001:db8::/64",
                   help="IPv6 sources (default 2001:db8::/64)")
    p.add_argument("--dst-port", type=int, default=9, help="UDP destination port (default 9, discard)")
    p.add_argument("--ttl", type=int, default=64, help="IPv4 TTL / IPv6 hop limit (default 64)")
    p.add_argument("--dst-mac", type=parse_mac, default="02:00:00:00:00:01",
                   help="Ethernet destination (default 02:00:00:00:00:01)")
    p.add_argument("--src-mac", type=parse_mac, default="02:00:00:00:00:fe",
                   help="Ethernet source (default 02:00:00:00:00:fe)")
    args = p.parse_args(argv)

    if args.flows < 1:
        p.error("--flows must be at least 1")
    if not 1 <= args.ttl <= 255:
        p.error("--ttl must be 1..255")
    if not 0 <= args.dst_port <= 65535:
        p.error("--dst-port must be 0..65535")
    need_v6 = args.family in ("6", "mixed")
    hdrs = ETH_HDR_LEN + (IPV6_HDR_LEN if need_v6 else IPV4_HDR_LEN) + UDP_HDR_LEN + FCS_LEN
    lowest = max(MIN_FRAME_SIZE, hdrs)
    if args.frame_size is None:
        args.frame_size = lowest
    if not lowest <= args.frame_size <= MAX_FRAME_SIZE:
        p.error(f"--frame-size must be {lowest}..{MAX_FRAME_SIZE} for this family (FCS included)")
    for name in ("src_prefix", "src_prefix6"):
        if name == "src_prefix6" and not need_v6:
            continue
        if name == "src_prefix" and args.family == "6":
            continue
        _, count = usable_hosts(getattr(args, name))
        if args.flows > SPORT_COUNT * count:
            p.error(f"--flows {args.flows} > {SPORT_COUNT * count}: widen --{name.replace('_', '-')}")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    n = write_pcap(args.output, frames(args), snaplen=65535)
    if args.output != "-":
        print(
            f"wrote {n} frames of {args.frame_size} B on the wire "
            f"({args.frame_size - FCS_LEN} B captured) to {args.output}",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
