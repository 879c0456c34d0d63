#!/usr/bin/env python3
"""mk_truth.py EXPECT.json SCENARIO DESCRIPTION > CAPTURE.truth.json: corpus-truth shape from expect.py output."""
import json, sys
e = json.load(open(sys.argv[1]))
doc = {"schema": "httplife-corpus-truth/v1", "scenario": sys.argv[2], "set": "heldout-sim", "file": e["file"],
       "description": sys.argv[3], "server_ports": e["server_ports"], "capture": {"tcpdump_stats": e["tcpdump_stats"]},
       "connections": e["connections"], "tolerances": e["tolerances"],
       "notes": "derived by samples/record/expect.py (two tshark passes); close reason rule 3 = last REQUEST is HTTP/1.0 without keep-alive"}
for i, c in enumerate(doc["connections"], 1):
    c["id"] = i
json.dump(doc, sys.stdout, indent=1)
print()
