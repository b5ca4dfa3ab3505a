#!/usr/bin/env python3
"""A scripted, hostile DHCPv6 server for tests/netns/dhcp6_hostile.test.sh.

    dhcp6-hostile-server.py --interface IF --scenario NAME [--t1 S --t2 S --preferred S --valid S]

Listens on [::]:547 (joined to ff02::1:2 on IF) and answers every Solicit, Request, Renew,
Rebind and Release: first with the scenario's bad answers, then with a good one. The packets are
built here by hand (struct), independently of the codec under test. Prints one JSON line per
event on stdout: {"event":"listening"}, {"event":"received","type":"solicit","xid":N,"size":N},
{"event":"sent","answer":"bad","what":"...","to":"solicit"} or "answer":"good" with the
prefixes it delegates, and {"event":"garbage-done","count":N}.
"""
import argparse
import ipaddress
import json
import random
import socket
import struct
import sys
import time

SOLICIT, ADVERTISE, REQUEST, RENEW, REBIND, REPLY, RELEASE = 1, 2, 3, 5, 6, 7, 8
RECONFIGURE = 10
NAMES = {SOLICIT: "solicit", REQUEST: "request", RENEW: "renew", REBIND: "rebind",
         RELEASE: "release"}

OPT_CLIENTID, OPT_SERVERID, OPT_PREFERENCE, OPT_STATUS, OPT_RAPID_COMMIT = 1, 2, 7, 13, 14
OPT_RECONF_MSG, OPT_DNS, OPT_DOMAINS, OPT_IA_PD, OPT_IAPREFIX = 19, 23, 24, 25, 26
OPT_PD_EXCLUDE = 67

SERVER_DUID = bytes.fromhex("0003000102005e10ff02")  # DUID-LL 02:00:5e:10:ff:02
OTHER_DUID = bytes.fromhex("0003000102005e10ffee")
REFUSAL = "refusal"  # marks a bad answer that delegates nothing (see the scenarios in Server)
GOOD_PREFIX = "2001:db8:100::/56"
NEXT_PREFIXES = ["2001:db8:200::/56", "2001:db8:300::/56"]  # after each withdrawal
# many-prefixes: each answer delegates this many /64s never given before, and renews at most
# RENEWED_AT_MOST of those the client lists (so that the Reply still fits in a datagram).
MANY_PREFIXES = 2000
RENEWED_AT_MOST = 200


def log(**event):
    print(json.dumps(event, separators=(",", ":")), flush=True)


def opt(code, body):
    return struct.pack("!HH", code, len(body)) + body


def status(code, text=b""):
    return opt(OPT_STATUS, struct.pack("!H", code) + text)


def iaprefix(prefix, preferred, valid, length=None, sub=b""):
    net = ipaddress.IPv6Network(prefix, strict=False)
    address = ipaddress.IPv6Address(prefix.split("/")[0])  # host bits kept, on purpose
    plen = net.prefixlen if length is None else length
    return opt(OPT_IAPREFIX, struct.pack("!IIB", preferred, valid, plen) + address.packed + sub)


def ia_pd(iaid, t1, t2, sub):
    return opt(OPT_IA_PD, struct.pack("!III", iaid, t1, t2) + sub)


def domain(name):
    return b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"


def options(area):
    """(code, body) for each option; stops at anything malformed (clients are trusted here)."""
    out = []
    while len(area) >= 4:
        code, length = struct.unpack("!HH", area[:4])
        out.append((code, area[4:4 + length]))
        area = area[4 + length:]
    return out


class Request:
    """What the server needs of a client message."""

    def __init__(self, packet):
        self.type = packet[0]
        self.xid = packet[1:4]
        found = options(packet[4:])
        self.client_id = next((body for code, body in found if code == OPT_CLIENTID), b"")
        ia = next((body for code, body in found if code == OPT_IA_PD), None)
        self.iaid = struct.unpack("!I", ia[:4])[0] if ia and len(ia) >= 4 else 0
        # The prefixes it lists, as "2001:db8::/64".
        self.prefixes = [f"{ipaddress.IPv6Address(body[9:25])}/{body[8]}"
                         for code, body in options(ia[12:] if ia else b"")
                         if code == OPT_IAPREFIX and len(body) >= 25]
        self.rapid_commit = any(code == OPT_RAPID_COMMIT for code, _ in found)


class Server:
    def __init__(self, args):
        self.args = args
        self.prefix = GOOD_PREFIX
        self.renews = 0
        self.requests = 0
        self.delegated = 0  # many-prefixes: the /64s given so far
        self.garbage_sent = False
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, args.interface.encode())
        self.sock.bind(("::", 547))
        ifindex = socket.if_nametoindex(args.interface)
        group = socket.inet_pton(socket.AF_INET6, "ff02::1:2") + struct.pack("@I", ifindex)
        self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, group)

    # ---- the good answer, and the pieces the bad ones are made of ----

    def lifetimes(self):
        a = self.args
        return a.preferred, a.valid

    def our_ia(self, req, prefixes=None, t1=None, t2=None, iaid=None):
        preferred, valid = self.lifetimes()
        if prefixes is None:
            prefixes = [iaprefix(self.prefix, preferred, valid)]
        return ia_pd(req.iaid if iaid is None else iaid, self.args.t1 if t1 is None else t1,
                     self.args.t2 if t2 is None else t2, b"".join(prefixes))

    def message(self, req, msg_type, ias, client_id=None, server_id=SERVER_DUID, xid=None,
                extra=b""):
        body = b""
        if client_id is None:
            client_id = req.client_id
        if client_id:
            body += opt(OPT_CLIENTID, client_id)
        if server_id:
            body += opt(OPT_SERVERID, server_id)
        body += b"".join(ias)
        if msg_type == ADVERTISE:
            body += opt(OPT_PREFERENCE, b"\xff")  # the client takes it at once
        body += opt(OPT_DNS, ipaddress.IPv6Address("2001:db8::53").packed)
        body += opt(OPT_DOMAINS, domain("example.com"))
        body += extra
        return bytes([msg_type]) + (req.xid if xid is None else xid) + body

    def answer_type(self, req):
        if req.type == SOLICIT:
            return REPLY if req.rapid_commit else ADVERTISE
        return REPLY

    def good(self, req):
        if req.type == RELEASE:
            return self.message(req, REPLY, [], extra=status(0, b"released"))
        extra = opt(OPT_RAPID_COMMIT, b"") if req.type == SOLICIT and req.rapid_commit else b""
        return self.message(req, self.answer_type(req), [self.our_ia(req)], extra=extra)

    # ---- scenarios: bad answers (name, bytes[, refusal]) for one client message ----
    # A refusal is well formed but delegates nothing usable: to a Request, it makes the client look
    # for another server (RFC 8415 §18.2.10.1), so only the first Request gets those, or the client
    # would never bind.

    def bad_truncated(self, req):
        good = self.good(req)
        return [("3 bytes, shorter than the header", good[:3]),
                ("the header alone", good[:4]),
                ("cut inside the option header", good[:6]),
                ("cut in the middle of an option", good[:len(good) - 7])]

    def bad_length_past_end(self, req):
        t = self.answer_type(req)
        preferred, valid = self.lifetimes()
        prefix = iaprefix(self.prefix, preferred, valid)
        # IA_PD's length claims 40 bytes more than the packet has.
        ia = bytearray(self.our_ia(req))
        struct.pack_into("!H", ia, 2, len(ia) - 4 + 40)
        # IAPREFIX's length runs past the end of its IA_PD (the message itself is fine).
        nested = bytearray(prefix)
        struct.pack_into("!H", nested, 2, len(nested) - 4 + 8)
        return [("IA_PD length past the end of the packet", self.message(req, t, [bytes(ia)])),
                ("IAPREFIX length past the end of the IA_PD",
                 self.message(req, t, [ia_pd(req.iaid, self.args.t1, self.args.t2, bytes(nested))]))]

    def bad_wrong_xid(self, req):
        xid = bytes(b ^ 0x5A for b in req.xid)
        return [("a wrong transaction id", self.message(req, self.answer_type(req),
                                                        [self.our_ia(req)], xid=xid))]

    def bad_wrong_client_id(self, req):
        t = self.answer_type(req)
        return [("another client's identifier",
                 self.message(req, t, [self.our_ia(req)], client_id=OTHER_DUID)),
                ("no client identifier",
                 self.message(req, t, [self.our_ia(req)], client_id=b""))]

    def bad_no_server_id(self, req):
        return [("no server identifier",
                 self.message(req, self.answer_type(req), [self.our_ia(req)], server_id=b""))]

    def bad_prefix_length(self, req):
        t = self.answer_type(req)
        preferred, valid = self.lifetimes()
        return [("a /0 prefix alone",
                 self.message(req, t, [self.our_ia(req, [iaprefix("::/0", preferred, valid)])]),
                 REFUSAL),
                ("a /129 prefix alone",
                 self.message(req, t, [self.our_ia(req, [iaprefix(self.prefix, preferred, valid,
                                                                  length=129)])]),
                 REFUSAL)]

    def good_with_bad_prefixes(self, req, bad_prefixes):
        """The good answer, with more (unusable) prefixes in the same IA_PD."""
        preferred, valid = self.lifetimes()
        prefixes = [iaprefix(self.prefix, preferred, valid)] + bad_prefixes
        return self.message(req, self.answer_type(req), [self.our_ia(req, prefixes)])

    def bad_lifetimes(self, req):
        t = self.answer_type(req)
        return [("preferred > valid, alone",
                 self.message(req, t, [self.our_ia(req, [iaprefix("2001:db8:101::/56", 60, 30)])]),
                 REFUSAL)]

    def bad_t1_t2(self, req):
        return [("T1 > T2", self.message(req, self.answer_type(req),
                                         [self.our_ia(req, t1=self.args.t2 + 5)]), REFUSAL)]

    def bad_foreign_ia(self, req):
        preferred, valid = self.lifetimes()
        foreign = self.our_ia(req, [iaprefix("2001:db8:bad::/56", preferred, valid)],
                              iaid=(req.iaid + 1) & 0xFFFFFFFF)
        return [("only an IA_PD with another IAID",
                 self.message(req, self.answer_type(req), [foreign]), REFUSAL)]

    def many_prefixes(self, req):
        """Renews what the client lists (RENEWED_AT_MOST at most) and delegates MANY_PREFIXES
        /64s it never gave before: without a limit the client would hold more after every
        Reply, until its Renew no longer fits in a datagram."""
        preferred, valid = self.lifetimes()
        renewed = [iaprefix(p, preferred, valid) for p in req.prefixes[:RENEWED_AT_MOST]]
        new = [iaprefix(f"{ipaddress.IPv6Address(0x20010db8 << 96 | n << 64)}/64", preferred, valid)
               for n in range(self.delegated, self.delegated + MANY_PREFIXES)]
        self.delegated += MANY_PREFIXES
        return self.message(req, self.answer_type(req), [self.our_ia(req, renewed + new)])

    def good_with_broken_parts(self, req):
        """The good answer, with broken parts that cost only themselves: a /129 prefix, two
        prefixes whose Prefix Exclude is broken (padding bits set, one byte too long), and the
        DNS option twice."""
        preferred, valid = self.lifetimes()
        prefixes = [iaprefix(self.prefix, preferred, valid),
                    iaprefix("2001:db8:200::/56", preferred, valid, length=129),
                    iaprefix("2001:db8:300::/56", preferred, valid,
                             sub=opt(OPT_PD_EXCLUDE, bytes([60, 0x01]))),
                    iaprefix("2001:db8:400::/56", preferred, valid,
                             sub=opt(OPT_PD_EXCLUDE, bytes([64, 0, 0])))]
        again = opt(OPT_DNS, ipaddress.IPv6Address("2001:db8::54").packed)
        return self.message(req, self.answer_type(req), [self.our_ia(req, prefixes)], extra=again)

    def bad_reconfigure(self, req):
        body = opt(OPT_CLIENTID, req.client_id) + opt(OPT_SERVERID, SERVER_DUID) + \
            opt(OPT_RECONF_MSG, bytes([RENEW]))
        return [("a Reconfigure", bytes([RECONFIGURE]) + b"\0\0\0" + body)]

    # ---- one client message ----

    def handle(self, req, size, address):
        log(event="received", type=NAMES.get(req.type, str(req.type)),
            xid=int.from_bytes(req.xid, "big"), size=size)
        scenario = self.args.scenario
        bad, good = [], self.good(req)
        preferred, valid = self.lifetimes()
        answered = req.type in (SOLICIT, REQUEST, RENEW, REBIND)
        if scenario in ("truncated", "length-past-end", "wrong-xid", "wrong-client-id",
                        "no-server-id", "reconfigure") and req.type != RELEASE:
            bad = getattr(self, "bad_" + scenario.replace("-", "_"))(req)
        elif scenario == "prefix-length" and answered:
            bad = self.bad_prefix_length(req)
            # With the good prefix: a /0, and prefixes outside what can be delegated.
            good = self.good_with_bad_prefixes(req, [
                iaprefix("::/0", preferred, valid),
                iaprefix("2001:db8:100:ff00::1/56", preferred, valid),  # bits past the length
                iaprefix("ff05:1::/56", preferred, valid),              # multicast
                iaprefix("fe80::/64", preferred, valid),                # link-local
                iaprefix("::/64", preferred, valid),                    # unspecified, loopback
            ])
        elif scenario == "lifetimes" and answered:
            bad = self.bad_lifetimes(req)
            good = self.good_with_bad_prefixes(req, [iaprefix("2001:db8:101::/56", 60, 30)])
        elif scenario == "many-prefixes" and answered:
            good = self.many_prefixes(req)
        elif scenario == "broken-parts" and answered:
            good = self.good_with_broken_parts(req)
        elif scenario == "t1-gt-t2" and answered:
            bad = self.bad_t1_t2(req)
        elif scenario == "foreign-ia" and answered:
            bad = self.bad_foreign_ia(req)
            # The good answer also carries the other IAID's IA_PD.
            foreign = self.our_ia(req, [iaprefix("2001:db8:bad::/56", preferred, valid)],
                                  iaid=(req.iaid + 1) & 0xFFFFFFFF)
            good = self.message(req, self.answer_type(req), [foreign, self.our_ia(req)])
        elif scenario == "withdraw" and req.type in (RENEW, REBIND):
            # The first Renew: the prefix withdrawn (lifetimes 0) and another one given in the same
            # Reply. The second: that one withdrawn alone, so the client starts over.
            self.renews += 1
            if self.renews <= len(NEXT_PREFIXES):
                old = self.prefix
                self.prefix = NEXT_PREFIXES[self.renews - 1]
                withdrawn = iaprefix(old, 0, 0)
                if self.renews == 1:
                    good = self.message(req, REPLY, [self.our_ia(req, [
                        withdrawn, iaprefix(self.prefix, preferred, valid)])])
                else:
                    good = self.message(req, REPLY, [self.our_ia(req, [withdrawn])])
                log(event="withdrawn", prefix=old)
        if req.type == REQUEST:
            if self.requests > 0:
                bad = [b for b in bad if REFUSAL not in b[2:]]
            self.requests += 1

        for what, packet, *_ in bad:
            self.sock.sendto(packet, address)
            log(event="sent", answer="bad", what=what, to=NAMES.get(req.type, str(req.type)))
        self.sock.sendto(good, address)
        log(event="sent", answer="good", to=NAMES.get(req.type, str(req.type)), prefix=self.prefix)

        if scenario == "garbage" and req.type == REQUEST and not self.garbage_sent:
            self.garbage_sent = True
            self.send_garbage(req, address, good)

    def send_garbage(self, req, address, good):
        """1000 packets: random bytes, a valid header with random options, the good Reply with a
        few bytes changed. Paced, so that none is lost to a full socket buffer."""
        rng = random.Random(self.args.seed)
        time.sleep(0.2)  # the good Reply first
        for i in range(self.args.garbage):
            kind = i % 3
            if kind == 0:
                packet = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 600)))
            elif kind == 1:
                packet = bytes([rng.choice([ADVERTISE, REPLY, RECONFIGURE])]) + req.xid + \
                    bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))
            else:
                mutated = bytearray(good)
                for _ in range(rng.randrange(1, 6)):
                    mutated[rng.randrange(len(mutated))] = rng.randrange(256)
                packet = bytes(mutated)
            self.sock.sendto(packet, address)
            if i % 20 == 19:
                time.sleep(0.01)
        log(event="garbage-done", count=self.args.garbage)

    def run(self):
        log(event="listening", interface=self.args.interface, scenario=self.args.scenario)
        while True:
            packet, address = self.sock.recvfrom(65535)
            if len(packet) < 4 or packet[0] not in NAMES:
                continue
            self.handle(Request(packet), len(packet), address)


SCENARIOS = ["good", "truncated", "length-past-end", "wrong-xid", "wrong-client-id",
             "no-server-id", "prefix-length", "lifetimes", "t1-gt-t2", "foreign-ia",
             "reconfigure", "withdraw", "garbage", "many-prefixes", "broken-parts"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interface", required=True)
    parser.add_argument("--scenario", required=True, choices=SCENARIOS)
    parser.add_argument("--t1", type=int, default=2)
    parser.add_argument("--t2", type=int, default=3)
    parser.add_argument("--preferred", type=int, default=4)
    parser.add_argument("--valid", type=int, default=6)
    parser.add_argument("--garbage", type=int, default=1000, help="packets in the garbage burst")
    parser.add_argument("--seed", type=int, default=1, help="of the garbage burst")
    args = parser.parse_args()
    try:
        Server(args).run()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
