#!/usr/bin/env python3
"""IP prefixes compared as prefixes, not as text, for the routed-mode tests.

    prefixes.py within PREFIX NET LEN   exit status 0 if PREFIX is a /LEN inside NET
    prefixes.py overlapping PREFIX      prints the lines of stdin that name an IPv6 address or
                                        prefix overlapping PREFIX (any word: `ip route`, `ip
                                        addr`, `ip rule` output); exit status 1 if none does
"""
import ipaddress
import sys


def within(prefix, net, length):
    prefix = ipaddress.ip_network(prefix)
    return prefix.prefixlen == int(length) and prefix.subnet_of(ipaddress.ip_network(net))


def overlapping(prefix, lines):
    net = ipaddress.ip_network(prefix)
    found = False
    for line in lines:
        for word in line.split():
            try:
                other = ipaddress.ip_network(word, strict=False)
            except ValueError:
                continue
            if other.version == 6 and other.overlaps(net):
                print(line.rstrip())
                found = True
                break
    return found


def main(argv):
    if len(argv) == 5 and argv[1] == "within":
        return 0 if within(*argv[2:]) else 1
    if len(argv) == 3 and argv[1] == "overlapping":
        return 0 if overlapping(argv[2], sys.stdin) else 1
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
