#!/usr/bin/env python3
"""Records what tests/unit/offload_test.cpp checks bridge/'s TAP offloads against: frames a real
kernel hands to a TAP with IFF_VNET_HDR and TSO/checksum offloads, and what the same kernel makes
of each when it must segment it or fill in its checksum itself. Not run by the test suite; run as
root to refresh tap_offload.txt.

Two TAPs in two namespaces, A (offloads on) and B, with this script as the wire between them:
a TCP connection from A sends 7740 bytes in one write (IPv4, IPv6) and UDP
sends one odd-sized datagram (IPv4, IPv6); the first TSO frame and the first UDP frame of each
are kept. Each is then written, vnet header and all, into TAP C of a third namespace whose
bridge forwards it to TAP D, which has no offloads: what D reads is the kernel's own
segmentation (tcp_gso_segment) or checksum (skb_checksum_help) of the frame.

tap_offload.txt: per case a line "case NAME", "vnet HEX", "frame HEX", then one "out HEX" per
frame the kernel made of it.
"""
import fcntl
import os
import select
import socket
import struct
import subprocess
import sys
import time

TUNSETIFF = 0x400454CA
TUNSETOFFLOAD = 0x400454D0
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR = 0x0002, 0x1000, 0x4000
TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6 = 0x01, 0x02, 0x04
VNET = 10
PAYLOAD = bytes(i % 251 for i in range(7740))  # one write: 5 full segments and a short one
TAG = f"{os.getpid() % 10000}"
NS_A, NS_B, NS_C = f"offa{TAG}", f"offb{TAG}", f"offc{TAG}"


def run(*args):
    subprocess.run(args, check=True)


def in_ns(ns, *args):
    run("ip", "netns", "exec", ns, *args)


def open_tap(name, offloads):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI | IFF_VNET_HDR))
    fcntl.ioctl(fd, TUNSETOFFLOAD, offloads)
    return fd


def setup():
    for ns in (NS_A, NS_B, NS_C):
        run("ip", "netns", "add", ns)
        in_ns(ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0",
              "net.ipv6.conf.default.accept_dad=0")
    in_ns(NS_C, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
          "net.ipv6.conf.default.disable_ipv6=1")
    taps = {
        "a": open_tap(f"offta{TAG}", TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6),
        "b": open_tap(f"offtb{TAG}", 0),
        "c": open_tap(f"offtc{TAG}", 0),
        "d": open_tap(f"offtd{TAG}", 0),
    }
    for side, ns, n in (("a", NS_A, 1), ("b", NS_B, 2)):
        dev = f"offt{side}{TAG}"
        run("ip", "link", "set", dev, "netns", ns)
        in_ns(ns, "ip", "link", "set", dev, "address", f"02:00:00:00:00:0{n}", "up")
        in_ns(ns, "ip", "addr", "add", f"198.51.100.{n}/24", "dev", dev)
        in_ns(ns, "ip", "addr", "add", f"2001:db8::{n}/64", "dev", dev, "nodad")
        other = 3 - n
        for address in (f"198.51.100.{other}", f"2001:db8::{other}"):
            in_ns(ns, "ip", "neigh", "add", address, "lladdr", f"02:00:00:00:00:0{other}",
                  "dev", dev, "nud", "permanent")
    in_ns(NS_C, "ip", "link", "add", "br0", "type", "bridge")
    for dev in (f"offtc{TAG}", f"offtd{TAG}"):
        run("ip", "link", "set", dev, "netns", NS_C)
        in_ns(NS_C, "ip", "link", "set", dev, "master", "br0", "up")
    in_ns(NS_C, "ip", "link", "set", "br0", "up")
    return taps


def cleanup():
    for ns in (NS_A, NS_B, NS_C):
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)


def wire(taps, want, deadline):
    """Forwards frames between A and B until `want(vnet, frame)` returns True for one from A
    (and returns it) or the deadline passes (None)."""
    while time.time() < deadline:
        ready, _, _ = select.select([taps["a"], taps["b"]], [], [], 0.1)
        for fd in ready:
            data = os.read(fd, 70000)
            os.write(taps["b"] if fd == taps["a"] else taps["a"], data)
            if fd == taps["a"] and want(data[:VNET], data[VNET:]):
                return data[:VNET], data[VNET:]
    return None


def kernel_output(taps, vnet, frame, src_mac):
    """Writes the frame into C and collects what the bridge hands to D."""
    while select.select([taps["d"]], [], [], 0.2)[0]:
        os.read(taps["d"], 70000)
    os.write(taps["c"], vnet + frame)
    out = []
    deadline = time.time() + 2
    while time.time() < deadline:
        if select.select([taps["d"]], [], [], 0.2)[0]:
            data = os.read(taps["d"], 70000)[VNET:]
            if data[6:12] == src_mac:
                out.append(data)
        elif out:
            break
    return out


def capture_tcp(taps, address, family, ethertype):
    server = subprocess.Popen(["ip", "netns", "exec", NS_B, "python3", "-c", f"""
import socket
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", 5001)); s.listen(1)
c, _ = s.accept()
n = 0
while n < {len(PAYLOAD)}:
    n += len(c.recv(65536))
"""])
    time.sleep(0.5)
    client = subprocess.Popen(["ip", "netns", "exec", NS_A, "python3", "-c", f"""
import socket, time
c = socket.socket(socket.{family})
c.connect(("{address}", 5001))
time.sleep(0.3)
c.send(bytes(i % 251 for i in range({len(PAYLOAD)})))
time.sleep(1)
"""])

    def is_tso(vnet, frame):
        return vnet[1] in (1, 4) and frame[12:14] == ethertype

    result = wire(taps, is_tso, time.time() + 10)
    wire(taps, lambda v, f: False, time.time() + 1.5)  # lets the rest of the exchange finish
    if not result:
        raise SystemExit(f"no TSO frame to {address} came")
    client.wait()
    server.wait()
    return result


def capture_udp(taps, address, family):
    client = subprocess.Popen(["ip", "netns", "exec", NS_A, "python3", "-c", f"""
import socket
c = socket.socket(socket.{family}, socket.SOCK_DGRAM)
c.sendto(bytes(range(7, 7 + 201)) + bytes(100), ("{address}", 5002))
"""])
    result = wire(taps, lambda v, f: v[0] & 1 and f[12:14] in (b"\x08\x00", b"\x86\xdd"),
                  time.time() + 5)
    client.wait()
    if not result:
        raise SystemExit(f"no UDP frame to {address} with its checksum left open came")
    return result


def main():
    out_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tap_offload.txt")
    cleanup()
    try:
        taps = setup()
        time.sleep(0.5)
        cases = [
            ("tcp4", capture_tcp(taps, "198.51.100.2", "AF_INET", b"\x08\x00")),
            ("tcp6", capture_tcp(taps, "2001:db8::2", "AF_INET6", b"\x86\xdd")),
            ("udp4-partial", capture_udp(taps, "198.51.100.2", "AF_INET")),
            ("udp6-partial", capture_udp(taps, "2001:db8::2", "AF_INET6")),
        ]
        lines = []
        for name, (vnet, frame) in cases:
            out = kernel_output(taps, vnet, frame, frame[6:12])
            if not out:
                raise SystemExit(f"{name}: the kernel handed nothing to D")
            lines += [f"case {name}", f"vnet {vnet.hex()}", f"frame {frame.hex()}"]
            lines += [f"out {o.hex()}" for o in out]
            print(f"{name}: vnet {vnet.hex()}, {len(frame)} bytes, {len(out)} out", file=sys.stderr)
        with open(out_path, "w") as f:
            f.write("\n".join(lines) + "\n")
    finally:
        cleanup()


if __name__ == "__main__":
    main()
