#!/usr/bin/env python3
"""Userspace tunnel endpoint for the encapsulations this machine's kernel lacks.

usage: tund.py MODE --dev NAME [--local IP --remote IP] [--key K] [--seq] [--vni N]
               [--underlay IF --peer-mac MAC] [--vlan ID[,ID]] [--labels L[,L] --rx-labels L[,L]]

The kernel here (6.18, built without ip_gre, ip6_gre, ip6_tunnel, ipip, sit,
geneve, 8021q, mpls_router) cannot make these devices with `ip link`, so this
daemon plays the kernel's part: it creates a TUN (L3) or TAP (L2) device NAME
in the current network namespace, and moves every packet the kernel routes
into it onto the underlay, encapsulated, and back. The inner traffic is the
kernel's own TCP; only the encapsulation headers are written here, following
the RFCs and the field layout Linux's own drivers use:

  gre        IPv4 proto 47, GRE (RFC 2784/2890): flags K with --key, S with
             --seq (per-direction counter from 0), protocol 0x0800/0x86DD  [TUN]
  gretap     GRE protocol 0x6558 (transparent Ethernet bridging)          [TAP]
  ip6gre     IPv6 next header 47, GRE, inner IP                           [TUN]
             (both IPv6 modes put a Destination Options header with a Tunnel
             Encapsulation Limit of 4 first, as Linux does by default)
  ipip       IPv4 proto 4, inner IPv4 (RFC 2003)                          [TUN]
  sit        IPv4 proto 41, inner IPv6 (6in4, RFC 4213)                   [TUN]
  ip6tnl     IPv6 next header 4, inner IPv4 (ip6tnl mode ipip6, RFC 2473) [TUN]
  geneve     UDP 6081 (RFC 8926), VNI, protocol 0x6558, one 4-byte option
             of class 0x0102 (as OVN sends), source port from a hash of the
             inner flow, UDP checksum computed                             [TAP]
  vxlan      UDP 4789 (RFC 7348) from a UDP socket bound to --local port
             4789, flags 0x08, --vni; over IPv4 or IPv6. The kernel's UDP
             sends it, so a datagram bigger than the path MTU leaves in
             fragments (Linux's own vxlan device drops an oversize IPv6
             one and lowers the inner path MTU instead)                   [TAP]
  vlan       802.1Q tag(s) on the underlay Ethernet: --vlan 10           [TAP]
  qinq       802.1ad S-tag then 802.1Q C-tag: --vlan 100,10               [TAP]
  mpls       Ethernet 0x8847 with the label stack --labels (outer first,
             S bit on the last, TTL from the inner packet), inner IPv4;
             labels expected on receive: --rx-labels                      [TUN]

IP modes send with a raw socket bound to --local (the kernel writes the outer
IP header: TTL 64, its own ID and checksum) and receive with a raw socket of
the same protocol (so the kernel sends no ICMP protocol-unreachable).
Ethernet modes send and receive on an AF_PACKET socket bound to --underlay;
a VLAN tag the receiving kernel moved into packet metadata is taken back from
PACKET_AUXDATA. Malformed or foreign packets are dropped; every read is
bounded (65535 bytes). Runs until SIGTERM/SIGINT; the device goes with it.
"""
import argparse
import fcntl
import os
import select
import signal
import socket
import struct
import sys
import zlib

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_TAP, IFF_NO_PI = 0x0001, 0x0002, 0x1000
ETH_P_ALL, ETH_P_8021Q, ETH_P_8021AD, ETH_P_MPLS = 0x0003, 0x8100, 0x88A8, 0x8847
SOL_PACKET, PACKET_AUXDATA = 263, 8
TP_STATUS_VLAN_VALID, TP_STATUS_VLAN_TPID_VALID = 0x10, 0x40
PACKET_OUTGOING = 4
L2 = {"gretap", "geneve", "vlan", "qinq", "vxlan"}
PROTO = {"gre": 47, "gretap": 47, "ip6gre": 47, "ipip": 4, "sit": 41, "ip6tnl": 4}
GENEVE_PORT, VXLAN_PORT = 6081, 4789


def open_tun(name, tap):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), (IFF_TAP if tap else IFF_TUN) | IFF_NO_PI))
    return fd


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


class Tunnel:
    def __init__(self, a):
        self.a = a
        self.mode = a.mode
        self.tx_seq = 0
        self.fd = open_tun(a.dev, a.mode in L2)
        if a.mode in PROTO:
            fam = socket.AF_INET6 if a.mode in ("ip6gre", "ip6tnl") else socket.AF_INET
            self.sock = socket.socket(fam, socket.SOCK_RAW, PROTO[a.mode])
            self.sock.bind((a.local, 0))
            self.fam = fam
            if fam == socket.AF_INET6:
                # a Destination Options header with a Tunnel Encapsulation Limit of 4 (RFC 2473 4.1.1)
                # and PadN, as Linux's ip6_tunnel and ip6_gre put in front of the payload
                self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_DSTOPTS, bytes([0, 0, 4, 1, 4, 1, 1, 0]))
        elif a.mode == "geneve":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # receives (absorbs) UDP 6081
            self.sock.bind((a.local, GENEVE_PORT))
            self.tx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
            self.tx.bind((a.local, 0))
        elif a.mode == "vxlan":
            fam = socket.AF_INET6 if ":" in a.local else socket.AF_INET
            self.sock = socket.socket(fam, socket.SOCK_DGRAM)
            self.sock.bind((a.local, VXLAN_PORT))
        else:  # Ethernet underlay
            proto = ETH_P_MPLS if a.mode == "mpls" else ETH_P_ALL
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(proto))
            self.sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
            self.sock.bind((a.underlay, proto))
            self.own = self.sock.getsockname()[4][:6]
            self.peer = mac(a.peer_mac) if a.peer_mac else None
        self.vlans = [int(x) for x in a.vlan.split(",")] if a.vlan else []
        self.labels = [int(x) for x in a.labels.split(",")] if a.labels else []
        self.rx_labels = [int(x) for x in a.rx_labels.split(",")] if a.rx_labels else []

    # -- encapsulation ------------------------------------------------------
    def gre_header(self, proto):
        flags, extra = 0, b""
        if self.a.key is not None:
            flags |= 0x2000
            extra += struct.pack("!I", self.a.key)
        if self.a.seq:
            flags |= 0x1000
            extra += struct.pack("!I", self.tx_seq & 0xFFFFFFFF)
            self.tx_seq += 1
        return struct.pack("!HH", flags, proto) + extra

    def geneve(self, frame):
        opt = struct.pack("!HBB", 0x0102, 0x80, 1) + struct.pack("!I", 0x00010002)  # OVN-style option, 4 bytes
        hdr = struct.pack("!BBH", len(opt) // 4, 0, 0x6558) + struct.pack("!I", self.a.vni << 8) + opt
        payload = hdr + frame
        # source port from the inner flow (RFC 8926 3.3): bytes 26..37 of an IPv4 frame
        sport = 49152 + (zlib.crc32(frame[26:38]) % 16384)
        length = 8 + len(payload)
        pseudo = socket.inet_aton(self.a.local) + socket.inet_aton(self.a.remote) + struct.pack("!BBH", 0, 17, length)
        udp = struct.pack("!HHHH", sport, GENEVE_PORT, length, 0) + payload
        c = csum(pseudo + udp) or 0xFFFF
        return udp[:6] + struct.pack("!H", c) + udp[8:]

    def send(self, pkt):
        m = self.mode
        if m in ("gre", "ip6gre"):
            ver = pkt[0] >> 4
            body = self.gre_header(0x0800 if ver == 4 else 0x86DD) + pkt
        elif m == "gretap":
            body = self.gre_header(0x6558) + pkt
        elif m in ("ipip", "sit", "ip6tnl"):
            body = pkt
        elif m == "geneve":
            self.tx.sendto(self.geneve(pkt), (self.a.remote, 0))
            return
        elif m == "vxlan":
            self.sock.sendto(struct.pack("!II", 0x08000000, self.a.vni << 8) + pkt, (self.a.remote, VXLAN_PORT))
            return
        elif m in ("vlan", "qinq"):
            tags = b""
            tpids = [ETH_P_8021AD] + [ETH_P_8021Q] * (len(self.vlans) - 1) if m == "qinq" else \
                [ETH_P_8021Q] * len(self.vlans)
            for tpid, vid in zip(tpids, self.vlans):
                tags += struct.pack("!HH", tpid, vid & 0xFFF)
            self.sock.send(pkt[:12] + tags + pkt[12:])
            return
        elif m == "mpls":
            if not pkt or pkt[0] >> 4 != 4:
                return  # IPv4 only (no IPv6 MPLS payloads in these scenarios)
            ttl = pkt[8]
            stack = b""
            for i, lab in enumerate(self.labels):
                bos = 1 if i == len(self.labels) - 1 else 0
                stack += struct.pack("!I", (lab << 12) | (bos << 8) | ttl)
            self.sock.send(self.peer + self.own + struct.pack("!H", ETH_P_MPLS) + stack + pkt)
            return
        else:
            return
        self.sock.sendto(body, (self.a.remote, 0))

    # -- decapsulation ------------------------------------------------------
    def gre_parse(self, b):
        if len(b) < 4:
            return None, None
        flags, proto = struct.unpack("!HH", b[:4])
        if flags & 0x07 or flags & 0x4000:  # version / routing: not ours
            return None, None
        off = 4 + (4 if flags & 0x8000 else 0)
        if flags & 0x2000:
            if len(b) < off + 4 or self.a.key is None or struct.unpack("!I", b[off:off + 4])[0] != self.a.key:
                return None, None
            off += 4
        elif self.a.key is not None:
            return None, None
        off += 4 if flags & 0x1000 else 0
        return proto, b[off:]

    def recv_ip(self):
        data, addr = self.sock.recvfrom(65535)
        if addr[0] != self.a.remote:
            return None
        if self.fam == socket.AF_INET:
            ihl = (data[0] & 0x0F) * 4 if data else 0
            data = data[ihl:]
        if self.mode in ("gre", "ip6gre"):
            proto, inner = self.gre_parse(data)
            return inner if proto in (0x0800, 0x86DD) else None
        if self.mode == "gretap":
            proto, inner = self.gre_parse(data)
            return inner if proto == 0x6558 else None
        return data

    def recv_geneve(self):
        data, addr = self.sock.recvfrom(65535)
        if addr[0] != self.a.remote or len(data) < 8:
            return None
        optlen = (data[0] & 0x3F) * 4
        ver = data[0] >> 6
        proto = struct.unpack("!H", data[2:4])[0]
        vni = struct.unpack("!I", data[4:8])[0] >> 8
        if ver != 0 or proto != 0x6558 or vni != self.a.vni or len(data) < 8 + optlen:
            return None
        return data[8 + optlen:]

    def recv_vxlan(self):
        data, addr = self.sock.recvfrom(65535)
        if addr[0] != self.a.remote or len(data) < 8:
            return None
        flags, vni = struct.unpack("!II", data[:8])
        return data[8:] if flags & 0x08000000 and vni >> 8 == self.a.vni else None

    def recv_eth(self):
        data, anc, _, addr = self.sock.recvmsg(65535, socket.CMSG_SPACE(20))
        if addr[2] == PACKET_OUTGOING or len(data) < 14:
            return None
        for lvl, typ, val in anc:  # a tag the kernel moved into metadata
            if lvl == SOL_PACKET and typ == PACKET_AUXDATA and len(val) >= 20:
                status, _, _, _, _, tci, tpid = struct.unpack("IIIHHHH", val[:20])
                if status & TP_STATUS_VLAN_VALID:
                    tpid = tpid if status & TP_STATUS_VLAN_TPID_VALID else ETH_P_8021Q
                    data = data[:12] + struct.pack("!HH", tpid, tci) + data[12:]
        if self.mode == "mpls":
            if data[:6] != self.own or struct.unpack("!H", data[12:14])[0] != ETH_P_MPLS:
                return None
            off, got = 14, []
            for _ in range(8):
                if len(data) < off + 4:
                    return None
                v = struct.unpack("!I", data[off:off + 4])[0]
                got.append(v >> 12)
                off += 4
                if v & 0x100:
                    break
            else:
                return None
            return data[off:] if got == self.rx_labels else None
        off = 12
        for vid in self.vlans:
            if len(data) < off + 4:
                return None
            tpid, tci = struct.unpack("!HH", data[off:off + 4])
            if tpid not in (ETH_P_8021Q, ETH_P_8021AD) or tci & 0xFFF != vid:
                return None
            off += 4
        return data[:12] + data[off:]

    def run(self):
        stop = []
        signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
        signal.signal(signal.SIGINT, lambda *_: stop.append(1))
        recv = {"geneve": self.recv_geneve, "vxlan": self.recv_vxlan}.get(
            self.mode, self.recv_ip if self.mode in PROTO else self.recv_eth)
        print(f"tund: {self.mode} on {self.a.dev} ready", flush=True)
        while not stop:
            try:
                r, _, _ = select.select([self.fd, self.sock], [], [], 0.5)
            except InterruptedError:
                continue
            for x in r:
                try:
                    if x is self.fd:
                        pkt = os.read(self.fd, 65535)
                        if pkt:
                            self.send(pkt)
                    else:
                        inner = recv()
                        if inner:
                            os.write(self.fd, inner)
                except OSError as e:  # e.g. a packet bigger than the path MTU
                    print(f"tund: {e}", file=sys.stderr, flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["gre", "gretap", "ip6gre", "ipip", "sit", "ip6tnl", "geneve", "vxlan", "vlan",
                                    "qinq", "mpls"])
    p.add_argument("--dev", required=True)
    p.add_argument("--local")
    p.add_argument("--remote")
    p.add_argument("--key", type=lambda s: int(s, 0))
    p.add_argument("--seq", action="store_true")
    p.add_argument("--vni", type=int, default=0)
    p.add_argument("--underlay")
    p.add_argument("--peer-mac")
    p.add_argument("--vlan")
    p.add_argument("--labels")
    p.add_argument("--rx-labels")
    a = p.parse_args()
    if a.mode in ("vlan", "qinq", "mpls") and not (a.underlay and (a.peer_mac or a.mode != "mpls")):
        p.error("--underlay (and --peer-mac for mpls) needed")
    if a.mode in PROTO or a.mode in ("geneve", "vxlan"):
        if not (a.local and a.remote):
            p.error("--local and --remote needed")
    Tunnel(a).run()


if __name__ == "__main__":
    main()
