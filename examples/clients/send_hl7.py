#!/usr/bin/env python3
"""Sends HL7 v2 files to `hms serve`'s MLLP listener with the python `hl7` package (pip install hl7)
and prints each ACK's MSA segment. LF/CRLF segment ends are turned into CR as MLLP expects.
Usage: examples/clients/send_hl7.py FILE... [--to HOST:PORT]"""
import sys

from hl7.client import MLLPClient

args = sys.argv[1:]
target = "127.0.0.1:2575"
if "--to" in args:
    i = args.index("--to")
    target = args[i + 1]
    del args[i : i + 2]
host, port = target.rsplit(":", 1)
with MLLPClient(host, int(port)) as client:
    for path in args:
        text = open(path, encoding="utf-8-sig").read().replace("\r\n", "\r").replace("\n", "\r")
        ack = client.send_message(text.strip("\r") + "\r").decode("utf-8", "replace")
        msa = next((s for s in ack.split("\r") if s.startswith("MSA")), ack)
        print(f"{path}: {msa}")
