#!/usr/bin/env python3
"""Port mirror for the field captures: what a switch's SPAN/ERSPAN session does.

usage: mirror.py copy   --from IF [--only in|out] --to IF [--delay S]
       mirror.py erspan --from IF --local IP --remote IP --version 2|3 --session N
                        [--index N] [--hwid N]

Reads every frame that enters (in) or leaves (out) the switch port --from (an
AF_PACKET socket; a VLAN tag the kernel moved into metadata is put back from
PACKET_AUXDATA) and
  copy:   sends a copy out of the monitor port --to, --delay seconds later
          (a mirror path with latency: the kernel here has no netem);
  erspan: sends it to the collector --remote in GRE from --local, as a switch
          does (ERSPAN type II, GRE protocol 0x88BE, or type III, 0x22EB; GRE
          with the S bit and a sequence number, no key). Type II header: Ver 1,
          VLAN 0, COS 0, En 0, T 0, Session ID, Index. Type III header: Ver 2,
          VLAN 0, COS 0, BSO 0, T 0, Session ID, a 32-bit timestamp in 100 us
          units (Gra 00) taken when the frame was seen, SGT 0, P 0, FT 0 (Ethernet),
          Hardware ID, D = 0 for a frame entering the port, 1 for one leaving it,
          O 0. The layout is Linux's net/erspan.h (erspan_ver 1 / 2).
Copies are never altered. Every read is bounded (65535 bytes). Runs until
SIGTERM/SIGINT.
"""
import argparse
import heapq
import select
import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
SOL_PACKET, PACKET_AUXDATA = 263, 8
TP_STATUS_VLAN_VALID, TP_STATUS_VLAN_TPID_VALID = 0x10, 0x40
PACKET_OUTGOING = 4


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["copy", "erspan"])
    p.add_argument("--from", dest="src", required=True)
    p.add_argument("--only", choices=["in", "out"])
    p.add_argument("--to")
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--local")
    p.add_argument("--remote")
    p.add_argument("--version", type=int, choices=[2, 3], default=2)
    p.add_argument("--session", type=int, default=1)
    p.add_argument("--index", type=int, default=0)
    p.add_argument("--hwid", type=int, default=0)
    a = p.parse_args()

    rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    rx.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    rx.bind((a.src, ETH_P_ALL))
    if a.mode == "copy":
        if not a.to:
            p.error("copy needs --to")
        tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        tx.bind((a.to, ETH_P_ALL))
    else:
        if not (a.local and a.remote):
            p.error("erspan needs --local and --remote")
        tx = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47)
        tx.bind((a.local, 0))
    seq = 0
    queue = []  # (due, n, frame)
    n = 0
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    print(f"mirror: {a.mode} from {a.src} ready", flush=True)
    while not stop:
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, frame = heapq.heappop(queue)
            try:
                tx.send(frame)
            except OSError as e:
                print(f"mirror: {e}", file=sys.stderr, flush=True)
        timeout = max(0.0, queue[0][0] - now) if queue else 0.5
        try:
            r, _, _ = select.select([rx], [], [], timeout)
        except InterruptedError:
            continue
        if not r:
            continue
        data, anc, _, addr = rx.recvmsg(65535, socket.CMSG_SPACE(20))
        seen = time.time()
        egress = addr[2] == PACKET_OUTGOING
        if (a.only == "in" and egress) or (a.only == "out" and not egress) or len(data) < 14:
            continue
        for lvl, typ, val in anc:
            if lvl == SOL_PACKET and typ == PACKET_AUXDATA and len(val) >= 20:
                status, _, _, _, _, tci, tpid = struct.unpack("IIIHHHH", val[:20])
                if status & TP_STATUS_VLAN_VALID:
                    tpid = tpid if status & TP_STATUS_VLAN_TPID_VALID else 0x8100
                    data = data[:12] + struct.pack("!HH", tpid, tci) + data[12:]
        if a.mode == "copy":
            if a.delay > 0:
                n += 1
                heapq.heappush(queue, (time.monotonic() + a.delay, n, data))
            else:
                tx.send(data)
            continue
        sid = a.session & 0x3FF
        if a.version == 2:
            gre = struct.pack("!HHI", 0x1000, 0x88BE, seq)
            hdr = struct.pack("!II", (1 << 28) | sid, a.index & 0xFFFFF)
        else:
            gre = struct.pack("!HHI", 0x1000, 0x22EB, seq)
            ts = int(seen * 10000) & 0xFFFFFFFF  # 100 us units
            w2 = ((a.hwid & 0x3F) << 4) | ((1 if egress else 0) << 3)  # HwID, D, Gra=00 (100 us), O=0
            hdr = struct.pack("!III", (2 << 28) | sid, ts, w2)
        seq = (seq + 1) & 0xFFFFFFFF
        try:
            tx.sendto(gre + hdr + data, (a.remote, 0))
        except OSError as e:
            print(f"mirror: {e}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
