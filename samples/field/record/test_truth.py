#!/usr/bin/env python3
"""Tests of truth.py's own parts (not tshark's): python3 samples/field/record/test_truth.py

- parse_packet: the encapsulation chain, VLAN ids and innermost endpoints read
  from tshark's frame.protocols and field occurrences (table-driven);
- duplicates: the copy window and key;
- mark_retransmissions and connection(): the own retransmission flag and the
  FIN-order rule for mirror copies delivered out of order;
- file_info (the pcap/pcapng reader): agrees with capinfos on every capture in
  samples/field, and survives hostile input (every truncation point of a small
  capture, random byte flips) without an exception or an unbounded loop.
"""
import os
import random
import struct
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import truth  # noqa: E402

FIELD = os.environ.get("FIELD_DIR", os.path.dirname(HERE))
A = truth.AGG


def row(protocols, **fields):
    d = {k: "" for k in truth.TCP_FIELDS}
    d.update({"frame.number": "1", "frame.time_epoch": "1700000000.000000001", "tcp.stream": "0",
              "tcp.srcport": "40000", "tcp.dstport": "8080", "tcp.len": "0", "tcp.flags.syn": "1",
              "tcp.flags.ack": "0", "frame.protocols": protocols})
    for k, v in fields.items():
        d[k.replace("_", ".", 1) if "." not in k else k] = v
    return d


class ParsePacket(unittest.TestCase):
    def test_chains(self):
        cases = [
            ("plain", row("eth:ethertype:ip:tcp", **{"ip.src": "10.0.0.1", "ip.dst": "10.0.0.2"}),
             "10.0.0.1:40000", None, None),
            ("vxlan", row("eth:ethertype:ip:udp:vxlan:eth:ethertype:ip:tcp",
                          **{"ip.src": f"10.1.0.1{A}192.168.0.1", "ip.dst": f"10.1.0.2{A}192.168.0.2",
                             "vxlan.vni": "100"}),
             "192.168.0.1:40000", [("vxlan", "10.1.0.1", "10.1.0.2", 100)], None),
            ("geneve hex vni", row("eth:ethertype:ip:udp:geneve:eth:ethertype:ip:tcp",
                                   **{"ip.src": f"10.1.0.1{A}192.168.0.1", "ip.dst": f"10.1.0.2{A}192.168.0.2",
                                      "geneve.vni": "0x001388"}),
             "192.168.0.1:40000", [("geneve", "10.1.0.1", "10.1.0.2", 5000)], None),
            ("gre without key", row("eth:ethertype:ip:gre:ip:tcp",
                                    **{"ip.src": f"10.1.0.1{A}192.168.0.1", "ip.dst": f"10.1.0.2{A}192.168.0.2",
                                       "gre.flags.key": "0"}),
             "192.168.0.1:40000", [("gre", "10.1.0.1", "10.1.0.2", None)], None),
            ("gre key in hex", row("eth:ethertype:ip:gre:ip:tcp",
                                   **{"ip.src": f"10.1.0.1{A}192.168.0.1", "ip.dst": f"10.1.0.2{A}192.168.0.2",
                                      "gre.flags.key": "1", "gre.key": "0x0000002a"}),
             "192.168.0.1:40000", [("gre", "10.1.0.1", "10.1.0.2", 42)], None),
            ("erspan", row("eth:ethertype:ip:gre:erspan:eth:ethertype:ip:tcp",
                           **{"ip.src": f"10.8.0.1{A}10.7.0.1", "ip.dst": f"10.8.0.2{A}10.7.0.2",
                              "gre.flags.key": "0", "erspan.spanid": "42"}),
             "10.7.0.1:40000", [("erspan", "10.8.0.1", "10.8.0.2", 42)], None),
            ("mpls stack", row("eth:ethertype:mpls:ip:tcp",
                               **{"ip.src": "192.168.0.1", "ip.dst": "192.168.0.2",
                                  "mpls.label": f"16001{A}20001", "mpls.bottom": f"0{A}1"}),
             "192.168.0.1:40000", [("mpls", None, None, 16001), ("mpls", None, None, 20001)], None),
            ("qinq", row("eth:ethertype:ieee8021ad:ethertype:vlan:ethertype:ip:tcp",
                         **{"ip.src": "192.168.0.1", "ip.dst": "192.168.0.2", "ieee8021ad.id": "100",
                            "vlan.id": "10"}),
             "192.168.0.1:40000", None, [100, 10]),
            ("ip6tnl with dstopts", row("eth:ethertype:ipv6:ipv6.dstopts:ip:tcp",
                                        **{"ipv6.src": "fd00::1", "ipv6.dst": "fd00::2",
                                           "ip.src": "192.168.0.1", "ip.dst": "192.168.0.2"}),
             "192.168.0.1:40000", [("ipip", "fd00::1", "fd00::2", None)], None),
            ("sit", row("eth:ethertype:ip:ipv6:tcp",
                        **{"ip.src": "10.0.0.1", "ip.dst": "10.0.0.2", "ipv6.src": "fd00::1",
                           "ipv6.dst": "fd00::2"}),
             "[fd00::1]:40000", [("ip6ip", "10.0.0.1", "10.0.0.2", None)], None),
            ("vlan outside vxlan", row("eth:ethertype:vlan:ethertype:ip:udp:vxlan:eth:ethertype:ip:tcp",
                                       **{"vlan.id": "7", "ip.src": f"10.1.0.1{A}192.168.0.1",
                                          "ip.dst": f"10.1.0.2{A}192.168.0.2", "vxlan.vni": "9"}),
             "192.168.0.1:40000", [("vxlan", "10.1.0.1", "10.1.0.2", 9)], [7]),
            ("sll2 any", row("sll:ethertype:ip:tcp", **{"ip.src": "10.4.0.1", "ip.dst": "10.4.0.2"}),
             "10.4.0.1:40000", None, None),
            ("nflog", row("nflog:ip:tcp", **{"ip.src": "10.4.0.1", "ip.dst": "10.4.0.2"}),
             "10.4.0.1:40000", None, None),
        ]
        for name, d, want_src, want_tun, want_vlan in cases:
            p = truth.parse_packet(d)
            got_tun = [(t["type"], t["outer_src"], t["outer_dst"], t["id"]) for t in p["tunnel"]] or None
            self.assertEqual(p["src"], want_src, f"{name}: src got {p['src']} want {want_src}")
            self.assertEqual(got_tun, want_tun, f"{name}: tunnel got {got_tun} want {want_tun}")
            self.assertEqual(p["vlan"], want_vlan, f"{name}: vlan got {p['vlan']} want {want_vlan}")

    def test_context_is_direction_free(self):
        a = truth.parse_packet(row("eth:ethertype:ip:udp:vxlan:eth:ethertype:ip:tcp",
                                   **{"ip.src": f"10.1.0.1{A}192.168.0.1", "ip.dst": f"10.1.0.2{A}192.168.0.2",
                                      "vxlan.vni": "100"}))
        b = truth.parse_packet(row("eth:ethertype:ip:udp:vxlan:eth:ethertype:ip:tcp",
                                   **{"ip.src": f"10.1.0.2{A}192.168.0.2", "ip.dst": f"10.1.0.1{A}192.168.0.1",
                                      "vxlan.vni": "100"}))
        c = truth.parse_packet(row("eth:ethertype:ip:udp:vxlan:eth:ethertype:ip:tcp",
                                   **{"ip.src": f"10.1.0.1{A}192.168.0.1", "ip.dst": f"10.1.0.2{A}192.168.0.2",
                                      "vxlan.vni": "101"}))
        self.assertEqual(truth.context(a), truth.context(b), "the two directions of one VNI differ")
        self.assertNotEqual(truth.context(a), truth.context(c), "two VNIs give the same context")


def pkt(frame, ns, key="k", **kw):
    p = {"frame": frame, "ns": ns, "dupkey": key, "src": "c", "dst": "s", "syn": False, "ack": True,
         "fin": False, "rst": False, "len": 0, "seq": 0, "ackno": 0, "ka": False, "retx": False, "crlf": False,
         "payload": "", "stream": 0, "tunnel": [], "vlan": None}
    p.update(kw)
    return p


class Duplicates(unittest.TestCase):
    def test_window(self):
        ms = 1_000_000
        cases = [
            ("copy 10 us later", [pkt(1, 0), pkt(2, 10_000)], [2]),
            ("same bytes 0.5 s later (not a copy)", [pkt(1, 0), pkt(2, 500 * ms)], []),
            ("different packets", [pkt(1, 0, "a"), pkt(2, 1, "b")], []),
            ("three copies", [pkt(1, 0), pkt(2, ms), pkt(3, 2 * ms)], [2, 3]),
            ("copy earlier in time (pcapng of two interfaces)", [pkt(1, 5 * ms), pkt(2, 4 * ms)], [2]),
        ]
        for name, pk, want in cases:
            got = truth.duplicates(pk, 200 * ms)
            self.assertEqual(got, want, f"{name}: got {got} want {want}")

    def test_cut_differently(self):
        us = 1000
        vx = [{"type": "vxlan", "outer_src": "10.0.0.1", "outer_dst": "10.0.0.2", "id": 100}]

        def seg(frame, ns, seq, n, tunnel, key=None):
            return pkt(frame, ns, key or f"k{frame}", seq=seq, len=n, tunnel=tunnel)
        cases = [
            ("bare GSO segment, then the tunnel's three", [seg(1, 0, 1000, 3000, []), seg(2, 5 * us, 1000, 1000, vx),
                                                           seg(3, 6 * us, 2000, 1000, vx), seg(4, 7 * us, 3000, 1000, vx)],
             [2, 3, 4]),
            ("the tunnel's three, then GRO's one", [seg(1, 0, 1000, 1000, vx), seg(2, 1 * us, 2000, 1000, vx),
                                                    seg(3, 2 * us, 3000, 1000, vx), seg(4, 9 * us, 1000, 3000, [])],
             [4]),
            ("a retransmission in both contexts", [seg(1, 0, 1000, 1000, vx), seg(2, 5 * us, 1000, 1000, []),
                                                  seg(3, 300_000 * us, 1000, 1000, vx, "r"),
                                                  seg(4, 300_005 * us, 1000, 1000, [], "r")], [2, 4]),
            ("a bare retransmission cut differently: old in its own context", [
                seg(1, 0, 1000, 1000, vx), seg(2, 5 * us, 1000, 1000, []), seg(3, 300_000 * us, 1000, 1000, [])], [2]),
            ("one context only: a retransmission, not a copy", [seg(1, 0, 1000, 1000, vx), seg(2, 5 * us, 1000, 1000, vx)],
             []),
            ("the other context's bytes too old", [seg(1, 0, 1000, 1000, vx), seg(2, 60_000 * us, 1000, 1000, [])], []),
            ("new bytes in the other context", [seg(1, 0, 1000, 1000, vx), seg(2, 5 * us, 1000, 2000, [])], []),
        ]
        for name, pk, want in cases:
            got = truth.duplicates(pk, 200_000 * us)
            self.assertEqual(got, want, f"{name}: got {got} want {want}")


class Connection(unittest.TestCase):
    def test_retransmissions(self):
        cases = [
            ("new data", [(100, 10), (110, 10)], [False, False]),
            ("resent", [(100, 10), (100, 10)], [False, True]),
            ("overlap is new", [(100, 10), (105, 10)], [False, False]),
            ("out of order fills a hole", [(100, 10), (120, 10), (110, 10), (110, 10)], [False, False, False, True]),
            ("across the 2^32 wrap", [(2 ** 32 - 5, 10), (5, 10), (2 ** 32 - 5, 10)], [False, False, True]),
        ]
        for name, segs, want in cases:
            pk = [pkt(i + 1, i, seq=s, len=n) for i, (s, n) in enumerate(segs)]
            truth.mark_retransmissions(pk)
            got = [p["rtx"] for p in pk]
            self.assertEqual(got, want, f"{name}: got {got} want {want}")

    def handshake_close(self, server_fin_first_in_file):
        c, s = "10.0.0.1:40000", "10.0.0.2:8080"
        pk = [pkt(1, 1, src=c, dst=s, syn=True, ack=False, seq=1000),
              pkt(2, 2, src=s, dst=c, syn=True, seq=5000, ackno=1001),
              pkt(3, 3, src=c, dst=s, seq=1001, ackno=5001)]
        cfin = pkt(0, 0, src=c, dst=s, fin=True, seq=1001, ackno=5001)
        sfin = pkt(0, 0, src=s, dst=c, fin=True, seq=5001, ackno=1002)  # acknowledges the client's FIN
        order = [sfin, cfin] if server_fin_first_in_file else [cfin, sfin]
        for i, p in enumerate(order):
            p["frame"], p["ns"] = 4 + i, 4_000_000_000 + i
        return truth.connection(pk + order, [])

    def test_fin_order(self):
        for first, want in ((False, "client"), (True, "client")):
            got = self.handshake_close(first)
            self.assertEqual(got["first_fin_by"], want,
                             f"server FIN first in file={first}: first_fin_by got {got['first_fin_by']} want {want}")
            self.assertEqual(got["close_reason"], "client-idle-close",
                             f"server FIN first in file={first}: reason {got['close_reason']}")
            self.assertEqual("fin-order-differs-from-capture-order" in got["anomalies"], first,
                             f"server FIN first in file={first}: anomalies {got['anomalies']}")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def captures():
    out = []
    for n in sorted(os.listdir(FIELD)):
        if n.endswith((".pcap", ".pcapng", ".pcap.gz", ".pcapng.gz")) or ".pcap" in n and n[-1].isdigit():
            out.append(os.path.join(FIELD, n))
    return out


class FileInfo(unittest.TestCase):
    def test_agrees_with_capinfos(self):
        caps = captures()
        if not caps:
            self.skipTest("no captures in samples/field")
        for f in caps:
            info = truth.file_info(f)
            out = subprocess.run(["capinfos", "-M", "-c", "-T", f], capture_output=True, text=True)
            if out.returncode != 0:
                self.fail(f"capinfos {f}: {out.stderr}")
            want = int(out.stdout.strip().splitlines()[-1].split("\t")[1])
            self.assertEqual(info["packets"], want, f"{os.path.basename(f)}: packets got {info['packets']} "
                                                    f"want {want} (capinfos)")
            self.assertEqual(info["problems"], [], f"{os.path.basename(f)}: problems {info['problems']}")

    def test_hostile(self):
        small = [f for f in captures() if not f.endswith(".gz") and os.path.getsize(f) < 40000]
        if not small:
            self.skipTest("no small captures in samples/field")
        rnd = random.Random(1)
        with tempfile.TemporaryDirectory() as d:
            bad = os.path.join(d, "x")
            for f in small[:6]:
                data = read(f)
                whole = truth.file_info(f)["packets"]
                for cut in list(range(0, 64)) + rnd.sample(range(len(data)), min(200, len(data))):
                    write(bad, data[:cut])
                    info = truth.file_info(bad, records=True)
                    self.assertLessEqual(info["packets"], whole, f"{f} cut at {cut}: more packets than the whole")
                for _ in range(300):
                    b = bytearray(data)
                    for _ in range(rnd.randint(1, 8)):
                        b[rnd.randrange(len(b))] = rnd.randrange(256)
                    write(bad, bytes(b))
                    truth.file_info(bad, records=True)  # must not raise
            write(bad, b"\x0a\x0d\x0d\x0a" + struct.pack("<I", 8) + b"\x4d\x3c\x2b\x1a" * 3)
            self.assertTrue(truth.file_info(bad)["problems"], "a block length of 8 was accepted")

    def test_time(self):
        cases = [("1700000000.000000001", 1700000000000000001, "2023-11-14T22:13:20.000000001Z"),
                 ("1700000000.5", 1700000000500000000, "2023-11-14T22:13:20.500000000Z"),
                 ("1796413471.328569000", 1796413471328569000, "2026-12-04T19:44:31.328569000Z")]
        for text, ns, iso in cases:
            self.assertEqual(truth.epoch_ns(text), ns, f"epoch_ns({text})")
            self.assertEqual(truth.rfc3339(ns), iso, f"rfc3339({ns})")


if __name__ == "__main__":
    unittest.main()
