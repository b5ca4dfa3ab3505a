#!/usr/bin/env python3
"""make_corpus.py OUT_DIR: writes the fuzzers' seed corpora, OUT_DIR/<target>/, from the Kea
captures in tests/unit/data (dhcp6_kea_*.hex). run_fuzzer.sh calls it before every run, so the
seeds always follow the captures and the client fuzzer's input format.
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

corpora = {
    "dhcp6_parse_fuzz": {f"kea-{name}": body for name, body in captures.items()},
    "dhcp6_client_fuzz": client_seeds,
}
out = pathlib.Path(sys.argv[1])
for target, seeds in corpora.items():
    directory = out / target
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    for name, body in seeds.items():
        (directory / name).write_bytes(body)
    print(f"{directory}: {len(seeds)} seeds")
