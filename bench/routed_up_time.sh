#!/usr/bin/env bash
# Routed mode, `l2wg up` to a LAN host holding a usable address: the whole chain of
# tests/lib/routed_chain.sh in namespaces (Kea upstream, the lab bridging it over WireGuard and
# gretap, the dorm's routed tunnel with br-lan, an ordinary host with the kernel's SLAAC and real
# duplicate address detection), set up once; then ROUNDS rounds of
#   `l2wg up dorm --wg … --peer … --pd --lan br-lan --prefix-length 56`, wait until the host holds
#   a non-tentative, non-deprecated address in the announced /64, `l2wg down dorm`,
# each split into its stages, all on the wall clock (CLOCK_REALTIME, shared by every namespace):
#   t0         the shell's clock right before `l2wg up`;
#   returned   `l2wg up` returned (the CreateTunnel call);
#   up         l2wgd logs the tunnel's state `up` (spdlog, ms);
#   tap DAD    the tap's link-local DAD probe (from ::) in the same capture, if the tap has DAD;
#   Solicit    the first DHCPv6 message leaving the dorm's tap (a Solicit; a Rebind with
#              LEASE=keep) (capture in the dorm on every interface, µs);
#   Reply      the Reply arriving on the tap (same capture): Solicit → Reply is the DHCPv6
#              exchange, with Kea's default settings (Solicit, Advertise, Request, Reply) and the
#              client collecting Advertises for its first retransmission time (RFC 8415 §18.2.9);
#   bound      l2wgd logs "prefix … delegated" (ms; after the lease file is written);
#   RA         the first Router Advertisement with the /64 leaving the dorm on br-lan (µs);
#   RA@host    that RA arriving on the host (capture on the host, µs);
#   DAD NS     the host's first Neighbor Solicitation for its new address (from ::, µs): RA@host →
#              DAD NS is the kernel's random delay before DAD (up to router_solicitation_delay);
#   usable     the kernel reports the address without the tentative flag (`ip -ts monitor
#              address` in the host, µs): DAD NS → usable is RetransTimer × DupAddrDetectTransmits;
#   router     the first RA on br-lan with a router lifetime (the host's default route).
# Targets: the first RA within 50 ms of the prefix being bound (measured on the wire:
# the Reply arriving on the tap → the RA leaving on br-lan); nothing else on top of the DHCPv6
# exchange and the host's own DAD ("on top" = total − (Solicit → Reply) − (RA@host → usable)).
#
# What makes the rounds independent: before each round the dorm's lease file is removed (the
# client Solicits afresh instead of Rebinding a valid lease: Kea still hands out the same prefix to
# the same DUID, which is fine) and the host's global addresses are flushed (so that its address
# from the previous round, deprecated by the final RAs, cannot count); after `l2wg down` the
# bench waits until the final RAs are over (3, 3 s apart: RFC 4861 §10), so that none of them
# deprecates the next round's address. The dorm's links get the kernel's default DAD (netns.sh
# turns it off), as on a real dorm router; l2wgd turns it off on its tap (accept_dad 0: optimistic
# DAD does nothing while forwarding), which "tap DAD" in the figures shows.
#
# Usage (root): L2WG_BUILD_DIR=build bench/routed_up_time.sh [ROUNDS]     (default 10)
#   LEASE=keep keeps the lease file between rounds (the client Rebinds the lease it has: what a
#   tunnel brought down and up again does); RAPID_COMMIT=1 adds --rapid-commit (and enables it on
#   Kea's subnet); TAP_DAD=off leaves DAD off on the dorm's new links (as the netns tests do: the
#   tap's link-local address is usable at once); KEEP=1 keeps the work dir (captures, logs).
set -Eeuo pipefail

ROUNDS=${1:-10}
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "ROUNDS must be a positive number"; exit 2; }
LEASE=${LEASE:-fresh}
case $LEASE in fresh | keep) ;; *) echo "LEASE must be fresh or keep"; exit 2 ;; esac
TAP_DAD=${TAP_DAD:-kernel}
case $TAP_DAD in kernel | off) ;; *) echo "TAP_DAD must be kernel or off"; exit 2 ;; esac
L2WG_SOURCE_DIR=${L2WG_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
export L2WG_SOURCE_DIR
# shellcheck source=tests/lib/netns.sh
source "$(dirname "$0")/../tests/lib/netns.sh"
# shellcheck source=tests/lib/routed_chain.sh
source "$(dirname "$0")/../tests/lib/routed_chain.sh"
# chain_teardown at exit: the upstream's final RAs would outlast netns.sh's 5 s.
bench_init routed_up_time chain_teardown

UP_ARGS=(--prefix-length 56)
if [ "${RAPID_COMMIT:-0}" = 1 ]; then
  UP_ARGS+=(--rapid-commit)
  CHAIN_RAPID_COMMIT=1
fi

echo "setting up the chain..." >&2
chain_setup "$TAG"
D=$CHAIN_DORM H=$CHAIN_HOST
# The kernel's default DAD for the links created from now on (the tap), as on a real dorm router;
# TAP_DAD=off keeps netns.sh's setting (none).
[ "$TAP_DAD" = off ] || ip netns exec "$D" sysctl -qw net.ipv6.conf.default.accept_dad=1

# The captures all stages come from. In the dorm on every interface (the tap is new each round):
# DHCPv6, router solicitations and advertisements, DAD's neighbor solicitations; on the host: all
# of ICMPv6.
bg_in "$D" "$WORKDIR/tcpdump-dorm.log" tcpdump -i any --immediate-mode -U -n -w "$WORKDIR/dorm.pcap" \
  'udp port 546 or udp port 547 or (icmp6 and (ip6[40] == 133 or ip6[40] == 134 or (ip6[40] == 135 and src host ::)))'
DORM_CAPTURE=$BG_PID
bg_in "$H" "$WORKDIR/tcpdump-host.log" tcpdump -i "$CHAIN_HOST_IF" --immediate-mode -U -n \
  -w "$WORKDIR/host.pcap" icmp6
HOST_CAPTURE=$BG_PID
bg_in "$H" "$WORKDIR/host-addresses.log" ip -ts monitor address dev "$CHAIN_HOST_IF"
ADDRESS_MONITOR=$BG_PID
wait_for 10 grep -q "listening on" "$WORKDIR/tcpdump-dorm.log"
wait_for 10 grep -q "listening on" "$WORKDIR/tcpdump-host.log"
sleep 0.2

LEASE_FILE=$WORKDIR/dorm/state/dhcp6/dorm.lease
DORM_LAN_LL=$(link_local "$D" "$CHAIN_LAN")
: >"$WORKDIR/rounds"
for round in $(seq "$ROUNDS"); do
  [ "$LEASE" = keep ] || rm -f "$LEASE_FILE"
  ip -n "$H" -6 addr flush dev "$CHAIN_HOST_IF" scope global
  sleep 0.3  # a quiet moment between the rounds in every capture
  t0=$EPOCHREALTIME
  chain_dorm_up "${UP_ARGS[@]}" >/dev/null
  t_returned=$EPOCHREALTIME
  chain_wait_prefix 30 || { echo "round $round: no prefix delegated in 30 s"; tail -30 "$(chain_daemon_log dorm)"; exit 1; }
  lan_prefix=$(chain_lan_prefix "$CHAIN_LAN")
  chain_wait_host_address "$lan_prefix" 30 ||
    { echo "round $round: the host has no usable address in $lan_prefix"; chain_host_addresses; exit 1; }
  t_seen=$EPOCHREALTIME
  # The host's default route too (its RA may come later than the address: see "router").
  wait_for 10 bash -c "ip -n $H -6 route show default | grep -q 'via $DORM_LAN_LL'" || true
  tap_ll=$(link_local "$D" "$CHAIN_TAP")
  echo "$round $t0 $t_returned $t_seen $lan_prefix $tap_ll" >>"$WORKDIR/rounds"
  printf '  round %2d: host address usable after %6.0f ms (%s)\n' "$round" \
    "$(bc <<<"($t_seen - $t0) * 1000")" "$lan_prefix" >&2
  chain_dorm_down >/dev/null
  # The final RAs: the first at most 3 s after the last RA, two more 3 s apart.
  sleep 9.5
done
sleep 0.3
stop_pid "$DORM_CAPTURE"
stop_pid "$HOST_CAPTURE"
stop_pid "$ADDRESS_MONITOR"

# The packets, one tab-separated line each.
tshark -r "$WORKDIR/dorm.pcap" -T fields -E separator=/t -e frame.time_epoch -e sll.pkttype \
  -e ipv6.src -e ipv6.dst -e dhcpv6.msgtype -e icmpv6.type -e icmpv6.nd.ra.router_lifetime \
  -e icmpv6.opt.prefix -e icmpv6.nd.ns.target_address >"$WORKDIR/dorm.tsv" 2>/dev/null
tshark -r "$WORKDIR/host.pcap" -T fields -E separator=/t -e frame.time_epoch -e ipv6.src \
  -e ipv6.dst -e icmpv6.type -e icmpv6.nd.ra.router_lifetime -e icmpv6.opt.prefix \
  -e icmpv6.nd.ns.target_address -e icmpv6.nd.ra.retrans_timer >"$WORKDIR/host.tsv" 2>/dev/null

in_host() { ip netns exec "$H" sysctl -n "$1"; }
DAD_TRANSMITS=$(in_host "net.ipv6.conf.$CHAIN_HOST_IF.dad_transmits")
RETRANS_MS=$(in_host "net.ipv6.neigh.$CHAIN_HOST_IF.retrans_time_ms")
SOLICIT_DELAY=$(in_host "net.ipv6.conf.$CHAIN_HOST_IF.router_solicitation_delay")
RTT_MS=$(ip netns exec "$D" ping -c 20 -i 0.05 -q 10.0.31.1 |
  sed -nE 's|^rtt min/avg/max/mdev = [0-9.]+/([0-9.]+)/.*|\1|p')

echo
echo "routed mode, \`l2wg up\` → LAN host address usable, $ROUNDS rounds, lease $LEASE," \
  "DAD on the tap: $TAP_DAD," \
  "$([ "${RAPID_COMMIT:-0}" = 1 ] && echo "rapid commit" || echo "Kea's default exchange");" \
  "Kea $(kea-dhcp6 -v), wireguard-go, kernel $(uname -r), $(nproc) CPUs, load average" \
  "$(cut -d' ' -f1 /proc/loadavg)"
python3 - "$WORKDIR" "$(chain_daemon_log dorm)" "$DORM_LAN_LL" "$DAD_TRANSMITS" "$RETRANS_MS" \
  "$SOLICIT_DELAY" "${RTT_MS:-nan}" <<'EOF'
import datetime, ipaddress, re, statistics, sys
workdir, daemon_log, lan_ll, dad_transmits, retrans_ms, solicit_delay, rtt = sys.argv[1:]
dad_transmits, retrans_ms = int(dad_transmits), int(retrans_ms)

def local_time(text):  # spdlog's and ip -ts's local wall time → epoch seconds
    return datetime.datetime.fromisoformat(text.replace(' ', 'T')).timestamp()

def rows(path):
    for line in open(path):
        fields = line.rstrip('\n').split('\t')
        yield [float(fields[0])] + fields[1:]

dorm = list(rows(f'{workdir}/dorm.tsv'))
host = list(rows(f'{workdir}/host.tsv'))
log = []  # (time, message)
for line in open(daemon_log):
    m = re.match(r'^\[(\S+ \S+)\] \[[^]]*\] \[[^]]*\] (.*)$', line)
    if m:
        log.append((local_time(m.group(1)), m.group(2)))
monitor = []  # (time, address, flags)
for line in open(f'{workdir}/host-addresses.log'):
    m = re.match(r'^\[(\S+)\] (Deleted )?\d+: \S+\s+inet6 (\S+) scope global(.*)$', line)
    if m and not m.group(2):
        monitor.append((local_time(m.group(1)), m.group(3), m.group(4).split()))

rounds = [line.split() for line in open(f'{workdir}/rounds')]
MS = 1e3
MESSAGES = {'1': 'Solicit', '3': 'Request', '4': 'Confirm', '5': 'Renew', '6': 'Rebind'}
first_messages = set()
stages = []
retrans_seen = set()
for index, (number, t0, returned, seen, lan_prefix, tap_ll) in enumerate(rounds):
    t0, returned, seen = float(t0), float(returned), float(seen)
    end = float(rounds[index + 1][1]) if index + 1 < len(rounds) else float('inf')
    net = ipaddress.ip_network(lan_prefix)
    def first(items, predicate):
        return next((i for i in items if t0 <= i[0] < end and predicate(i)), None)
    def in_lan(prefixes):
        return any(p and ipaddress.ip_address(p) == net.network_address for p in prefixes.split(','))
    up = first(log, lambda e: re.match(r'dorm: up\b', e[1]))
    bound = first(log, lambda e: re.match(r'dorm: prefix \S+ delegated', e[1]))
    tap_dad = first(dorm, lambda p: p[5] == '135' and p[2] == '::' and p[8] == tap_ll)
    # Solicit; with LEASE=keep a Rebind (or Renew, Confirm, Request: whatever opens the exchange).
    solicit = first(dorm, lambda p: p[4] in MESSAGES and p[2] == tap_ll)
    reply = first(dorm, lambda p: p[4] == '7' and p[3] == tap_ll)
    # On br-lan and again on its port d-lan: the first is the bridge's own transmission.
    ra = first(dorm, lambda p: p[5] == '134' and p[2] == lan_ll and in_lan(p[7]))
    router = first(dorm, lambda p: p[5] == '134' and p[2] == lan_ll and p[6] not in ('', '0'))
    ra_host = first(host, lambda p: p[3] == '134' and p[1] == lan_ll and in_lan(p[5]))
    # The kernel announces a SLAAC address once its DAD is over (a manual one at once, tentative).
    usable = first(monitor, lambda a: ipaddress.ip_interface(a[1]).ip in net and
                   not {'tentative', 'dadfailed', 'deprecated'} & set(a[2]))
    dad = usable and first(host, lambda p: p[3] == '135' and p[1] == '::' and
                           p[6] == str(ipaddress.ip_interface(usable[1]).ip))
    if solicit:
        first_messages.add(MESSAGES[solicit[4]])
    if ra_host and ra_host[7]:
        retrans_seen.add(ra_host[7])
    missing = [name for name, value in (('up', up), ('bound', bound), ('first DHCPv6 message', solicit),
               ('Reply', reply), ('RA', ra), ('RA@host', ra_host), ('DAD NS', dad),
               ('usable', usable)) if not value]
    if missing:
        print(f"round {number}: not found: {', '.join(missing)}")
        continue
    stages.append({
        't0': 0.0, 'returned': (returned - t0) * MS, 'up': (up[0] - t0) * MS, 'solicit': (solicit[0] - t0) * MS,
        'reply': (reply[0] - t0) * MS, 'bound': (bound[0] - t0) * MS, 'ra': (ra[0] - t0) * MS,
        'ra_host': (ra_host[0] - t0) * MS, 'dad': (dad[0] - t0) * MS, 'usable': (usable[0] - t0) * MS,
        'router': (router[0] - t0) * MS if router else float('nan'), 'seen': (seen - t0) * MS,
        'tap_dad': (tap_dad[0] - t0) * MS if tap_dad else float('nan')})

if not stages:
    sys.exit("no complete round")
def stat(values):
    values = [v for v in values if v == v]
    if not values:
        return '      n/a'
    return f"{statistics.median(values):9.1f} {min(values):9.1f} {max(values):9.1f}"
def line(label, values, note=''):
    print(f"  {label:42s}{stat(values)}  {note}")
def delta(a, b):
    return [s[b] - s[a] for s in stages]

print(f"\nmilliseconds, {len(stages)} rounds{'':18s}median       min       max")
print("from `l2wg up` (t0):")
for key, label in (('returned', '`l2wg up` returned'), ('up', 'tunnel up (l2wgd log, ms)'),
                   ('solicit', 'first DHCPv6 message on the tap'), ('reply', 'Reply on the tap'),
                   ('bound', 'prefix bound (l2wgd log, ms)'), ('ra', 'first RA with the /64 on br-lan'),
                   ('usable', 'host address usable (not tentative)'),
                   ('router', 'first RA with a router lifetime'),
                   ('seen', "(the bench's own poll saw it)")):
    line(label, [s[key] for s in stages])
print("the stages:")
line('t0 → first DHCPv6 message', delta('t0', 'solicit'), '(' + ', '.join(sorted(first_messages)) + ')')
line("  tunnel up → the tap's DAD NS (random delay)", delta('up', 'tap_dad'), '(none: no DAD on the tap)'
     if all(s['tap_dad'] != s['tap_dad'] for s in stages) else '')
line("  the tap's DAD NS → first DHCPv6 message", delta('tap_dad', 'solicit'))
line('→ Reply: the DHCPv6 exchange', delta('solicit', 'reply'))
line('Reply → prefix bound (log, ms)', delta('reply', 'bound'))
line('prefix bound (log, ms) → first RA', delta('bound', 'ra'))
reply_to_ra = delta('reply', 'ra')
line('Reply → first RA (on the wire)', reply_to_ra)
line('first RA → arrives at the host', delta('ra', 'ra_host'))
line("RA@host → DAD's first NS (random delay)", delta('ra_host', 'dad'))
line("DAD's first NS → address usable", delta('dad', 'usable'))
exchange, host_dad = delta('solicit', 'reply'), delta('ra_host', 'usable')
total = [s['usable'] for s in stages]
on_top = [t - e - d for t, e, d in zip(total, exchange, host_dad)]
line('total: `l2wg up` → host address usable', total)
line('on top of the exchange and the host DAD', on_top,
     '(t0 → first message + Reply → RA + RA → host)')
print(f"\nthe host's DAD: DupAddrDetectTransmits {dad_transmits} × RetransTimer {retrans_ms} ms "
      f"= {dad_transmits * retrans_ms} ms, after a random delay of up to router_solicitation_delay "
      f"{solicit_delay} s (the RAs' RetransTimer: {', '.join(sorted(retrans_seen)) or 'unset'}); "
      f"WireGuard round trip dorm↔lab {rtt} ms")
median_reply_ra = statistics.median(reply_to_ra)
print(f"target: the first RA within 50 ms of the prefix being bound (Reply → RA): median "
      f"{median_reply_ra:.1f} ms, worst {max(reply_to_ra):.1f} ms: "
      f"{'met' if max(reply_to_ra) <= 50 else 'NOT met' if median_reply_ra > 50 else 'met in the median, not in every round'}")
median_on_top = statistics.median(on_top)
print(f"target: nothing else on top of the DHCPv6 exchange and the host's DAD (read as: at most "
      f"100 ms for the tunnel's creation and the first RA): median {median_on_top:.1f} ms on top, "
      f"of which t0 → first DHCPv6 message {statistics.median(delta('t0', 'solicit')):.1f} ms: "
      f"{'met' if median_on_top <= 100 else 'NOT met'}")
print("rounds, total (ms): " + ' '.join(f"{v:.0f}" for v in total))
EOF
