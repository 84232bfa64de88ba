#!/usr/bin/env python3
"""HL7 ingest throughput: N generated ADT^A04 (distinct MRNs) over C MLLP connections against a
running `hms serve`; each connection waits for the ACK (sent after commit) before the next message.
Usage: scripts/hl7_throughput.py HOST:PORT [N] [CONNECTIONS]"""
import socket, sys, threading, time, uuid

addr, n, conns = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 500, int(sys.argv[3]) if len(sys.argv) > 3 else 1
host, port = addr.rsplit(":", 1)
run = uuid.uuid4().hex[:8]

def msg(i):
    return (f"MSH|^~\\&|BENCH|HOSP|HMS|HMS|20240102153000+0100||ADT^A04^ADT_A01|B{run}-{i}|P|2.5.1\r"
            f"EVN|A04|20240102153000+0100\rPID|1||{run}-{i}^^^BENCH^MR||TEST^P{i}||19700102|F\r"
            f"PV1|1|O|CLINIC||||||||||||||||V{run}-{i}^^^BENCH^VN\r").encode()

def worker(ids, bad):
    s = socket.create_connection((host, int(port)))
    for i in ids:
        s.sendall(b"\x0b" + msg(i) + b"\x1c\x0d")
        buf = b""
        while not buf.endswith(b"\x1c\x0d"):
            chunk = s.recv(4096)
            if not chunk:
                raise SystemExit("connection closed")
            buf += chunk
        if b"MSA|AA|" not in buf:
            bad.append(i)
    s.close()

bad = []
threads = [threading.Thread(target=worker, args=(range(k, n, conns), bad)) for k in range(conns)]
t0 = time.time()
for t in threads: t.start()
for t in threads: t.join()
dt = time.time() - t0
print(f"{n} messages, {conns} connection(s): {dt:.2f}s = {n/dt:.0f} msg/s, not AA: {len(bad)}")
