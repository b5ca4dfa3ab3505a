#!/bin/bash
# Records the Kea (kea-dhcp6-server) packets that tests/unit/dhcp6_codec_test.cpp parses:
# dhcp6_kea_advertise.hex and dhcp6_kea_reply.hex. Not run by the test suite; run as root to
# refresh them: a veth pair between two namespaces, Kea with a pd-pool on one side, and a
# hand-built Solicit then Request (the same Solicit bytes the codec test encodes) on the other.
set -euo pipefail
out_dir=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
srv=d6-kea-srv-$$
cli=d6-kea-cli-$$
kea_pid=
cleanup() {
  [[ -n $kea_pid ]] && kill "$kea_pid" 2>/dev/null && wait "$kea_pid" 2>/dev/null || true
  ip netns del "$srv" 2>/dev/null || true
  ip netns del "$cli" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$srv"
ip netns add "$cli"
ip link add d6s netns "$srv" type veth peer name d6c netns "$cli"
for ns in "$srv" "$cli"; do
  ip -n "$ns" link set lo up
done
ip -n "$srv" link set d6s address 02:00:5e:10:00:02 up
ip -n "$cli" link set d6c address 02:00:5e:10:00:01 up
ip -n "$srv" addr add 2001:db8:1::1/64 dev d6s nodad
sleep 2  # link-local DAD

# shellcheck source=tests/lib/kea.sh
source "$out_dir/../../lib/kea.sh"
kea_config "$work/kea.json" --server-id 02005e100002 --timers 1000 2000 3000 4000 \
  --subnet d6s 2001:db8:1::/64 2001:db8:100::/40 --excluded-prefix 2001:db8:100::/64 \
  --option dns-servers "2001:db8::53, 2001:db8::54" \
  --option domain-search "example.com, lab.example.org" \
  --always-send preference 10 --option solmax-rt 3600
KEA_LOCKFILE_DIR=$work KEA_PIDFILE_DIR=$work ip netns exec "$srv" kea-dhcp6 -c "$work/kea.json" \
  >"$work/kea.log" 2>&1 &
kea_pid=$!
sleep 2

if ! ip netns exec "$cli" python3 - "$out_dir" <<'PY'
import socket, struct, sys
out_dir = sys.argv[1]
client_id = bytes.fromhex("0003000102005e100001")  # DUID-LL, 02:00:5e:10:00:01
def opt(code, body): return struct.pack("!HH", code, len(body)) + body
def ia_pd(iaid, prefix_opts): return opt(25, struct.pack("!III", iaid, 0, 0) + prefix_opts)
hint = opt(26, struct.pack("!IIB", 0, 0, 56) + bytes(16))
oro = opt(6, struct.pack("!HHHH", 23, 24, 67, 82))
elapsed = opt(8, b"\0\0")
solicit = b"\x01\x12\x34\x56" + opt(1, client_id) + oro + elapsed + ia_pd(1, hint)
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"d6c")
s.bind(("::", 546))
s.settimeout(5)
server = ("ff02::1:2", 547, 0, socket.if_nametoindex("d6c"))
def exchange(packet, want_type, name):
    s.sendto(packet, server)
    while True:
        data, _ = s.recvfrom(2048)
        if data[0] == want_type and data[1:4] == packet[1:4]:
            open(f"{out_dir}/dhcp6_kea_{name}.hex", "w").write(data.hex() + "\n")
            return data
advertise = exchange(solicit, 2, "advertise")
def options(area):
    while area:
        code, length = struct.unpack("!HH", area[:4])
        yield code, area[4:4 + length]
        area = area[4 + length:]
found = dict(options(advertise[4:]))
request = (b"\x03\xab\xcd\xef" + opt(1, client_id) + opt(2, found[2]) + oro + elapsed +
           opt(25, found[25]))
exchange(request, 7, "reply")
PY
then cat "$work/kea.log"; exit 1; fi
echo "captured into $out_dir"
