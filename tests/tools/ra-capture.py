#!/usr/bin/env python3
"""The Router Advertisements in a capture, for the routed-mode tests.

    ra-capture.py PCAP list [SINCE]    every RA captured after SINCE (epoch s; default all), one
                                       JSON object a line: t (epoch s), rl (router lifetime) and
                                       pio ({"PREFIX/LEN": [preferred, valid]})
    ra-capture.py PCAP find SINCE EXPR the first RA after SINCE for which the Python expression
                                       EXPR holds: prints how many seconds after SINCE it came;
                                       exit status 1 if there is none
    ra-capture.py PCAP count EXPR      how many RAs EXPR holds for

In EXPR, ra is the RA as `list` prints it and pio("P/LEN") the [preferred, valid] of that PIO
(None without one), e.g. 'ra["rl"] == 0' or 'pio("2001:db8:1::/64") == [0, 0]'.
PCAP is read with tshark while tcpdump may still be writing it: while its last packet is cut
short there are no RAs at all, so a caller that polls sees them on a later look.
"""
import ipaddress
import json
import subprocess
import sys


def advertisements(pcap):
    # tshark's JSON keeps repeated options as a list only with --no-duplicate-keys; a RIO also
    # has an icmpv6.opt.prefix, so options are told apart by type.
    out = subprocess.run(["tshark", "-r", pcap, "-T", "json", "--no-duplicate-keys"],
                         capture_output=True, text=True).stdout
    try:
        packets = json.loads(out)
    except ValueError:
        return []
    ras = []
    for packet in packets:
        layers = packet["_source"]["layers"]
        icmp = layers.get("icmpv6", {})
        if icmp.get("icmpv6.type") != "134":
            continue
        options = icmp.get("icmpv6.opt", [])
        options = options if isinstance(options, list) else [options]
        pio = {o["icmpv6.opt.prefix"] + "/" + o["icmpv6.opt.prefix.length"]:
               [int(o["icmpv6.opt.prefix.preferred_lifetime"]),
                int(o["icmpv6.opt.prefix.valid_lifetime"])]
               for o in options if o.get("icmpv6.opt.type") == "3"}
        ras.append({"t": float(layers["frame"]["frame.time_epoch"]),
                    "rl": int(icmp["icmpv6.nd.ra.router_lifetime"]), "pio": pio})
    return ras


def holds(expr, ra):
    pios = {ipaddress.ip_network(k): v for k, v in ra["pio"].items()}
    return eval(expr, {"ra": ra, "pio": lambda p: pios.get(ipaddress.ip_network(p))})


def main(argv):
    if len(argv) < 3 or argv[2] not in ("list", "find", "count"):
        sys.exit(__doc__)
    pcap, command, args = argv[1], argv[2], argv[3:]
    ras = advertisements(pcap)
    if command == "list":
        since = float(args[0]) if args else float("-inf")
        for ra in ras:
            if ra["t"] > since:
                print(json.dumps(ra))
    elif command == "find":
        since, expr = float(args[0]), args[1]
        for ra in ras:
            if ra["t"] > since and holds(expr, ra):
                print("%.2f" % (ra["t"] - since))
                return 0
        return 1
    else:
        print(sum(1 for ra in ras if holds(args[0], ra)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
