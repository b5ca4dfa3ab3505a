#!/usr/bin/env python3
"""make_corpus.py OUT_DIR: writes the fuzzers' seed corpora, OUT_DIR/<target>/, from the
captures in tests/unit/data: Kea's (dhcp6_kea_*.hex), the kernel's TAP frames
(tap_offload.txt) and dnspython's DNS messages (dns_wgsd.txt). run_fuzzer.sh calls it before every run, so the seeds always follow the
captures and the fuzzers' input formats.
"""
import pathlib
import shutil
import struct
import sys

here = pathlib.Path(__file__).resolve().parent
data = here.parent / "unit" / "data"
captures = {p.stem.removeprefix("dhcp6_kea_"): bytes.fromhex(p.read_text().strip())
            for p in sorted(data.glob("dhcp6_kea_*.hex"))}
advertise, reply = captures["advertise"], captures["reply"]
rapid_commit = struct.pack("!HH", 14, 0)

# dhcp6_client_fuzz's input format (see the comment at the top of dhcp6_client_fuzz.cpp): a setup
# byte, then records: an action byte (0x80 | n) or a packet (op, 16-bit length, bytes).
SOLICITING, REQUESTING, BOUND, RENEWING, REBINDING, STORED = range(6)
RAPID_COMMIT, HINT, INITIAL_DELAY = 0x08, 0x10, 0x20
RENEW, LINK_CHANGED, RELEASE, STOP, START, NEXT_DEADLINE = (0x80 | n for n in range(6))
KEEP_XID = 0x40


def packet(body, op=0):
    return bytes([op]) + struct.pack("!H", len(body)) + body


def advance(count, unit):  # count (0..15) units of 10 ms, 1 s, 100 s, 10000 s; an empty packet
    return packet(b"", count << 2 | unit)


client_seeds = {
    "full-exchange": bytes([SOLICITING]) + packet(advertise) + bytes([NEXT_DEADLINE]) + packet(reply),
    "initial-delay": bytes([SOLICITING | INITIAL_DELAY | HINT]) + bytes([NEXT_DEADLINE]) +
                     packet(advertise) + bytes([NEXT_DEADLINE]) + packet(reply),
    "rapid-commit": bytes([SOLICITING | RAPID_COMMIT]) + packet(reply + rapid_commit),
    "requesting-reply": bytes([REQUESTING]) + packet(reply),
    "bound-renew": bytes([BOUND]) + bytes([RENEW]) + packet(reply),
    "bound-renew-wrong-xid": bytes([BOUND]) + bytes([RENEW]) + packet(reply, KEEP_XID),
    "bound-link-changed": bytes([BOUND]) + bytes([LINK_CHANGED]) + packet(reply),
    "bound-release": bytes([BOUND, RELEASE, NEXT_DEADLINE, NEXT_DEADLINE]),
    "bound-stop-start": bytes([BOUND, STOP, START]) + packet(reply),
    "bound-expiry": bytes([BOUND]) + advance(15, 2) * 3,
    "renewing-reply": bytes([RENEWING]) + packet(reply),
    "rebinding-reply": bytes([REBINDING]) + packet(reply),
    "stored-lease-reply": bytes([STORED]) + packet(reply),
}

# offload_fuzz's input format (see offload_fuzz.cpp): a mode byte, then a segment MTU and a
# batch of length-prefixed frames (even), or a vnet header and a frame (odd).
tap_cases = {}
for line in (data / "tap_offload.txt").read_text().splitlines():
    kind, value = line.split()
    if kind == "case":
        case = tap_cases.setdefault(value, {"out": []})
    elif kind == "out":
        case["out"].append(bytes.fromhex(value))
    else:
        case[kind] = bytes.fromhex(value)
offload_seeds = {}
for name, case in tap_cases.items():
    offload_seeds[f"{name}-batch"] = b"\0" + struct.pack("!H", 1500) + b"".join(
        struct.pack("!H", len(frame)) + frame for frame in case["out"])
    # What kernel GRO or a kernel gretap peer hands over: the frame with its checksum open.
    offload_seeds[f"{name}-open"] = b"\0" + struct.pack("!H", 1500) + struct.pack(
        "!H", len(case["frame"])) + case["frame"]
    offload_seeds[f"{name}-frame"] = b"\1" + case["vnet"] + case["frame"]

# dns_parse_fuzz: dnspython's queries and answers of wgsd's example (dns_wgsd.txt).
dns_seeds = {}
for line in (data / "dns_wgsd.txt").read_text().splitlines():
    name, value = line.split()
    dns_seeds[f"wgsd-{name}"] = bytes.fromhex(value)

corpora = {
    "dns_parse_fuzz": dns_seeds,
    "dhcp6_parse_fuzz": {f"kea-{name}": body for name, body in captures.items()},
    "dhcp6_client_fuzz": client_seeds,
    "offload_fuzz": offload_seeds,
}
out = pathlib.Path(sys.argv[1])
for target, seeds in corpora.items():
    directory = out / target
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    for name, body in seeds.items():
        (directory / name).write_bytes(body)
    print(f"{directory}: {len(seeds)} seeds")
