#!/usr/bin/env bash
# Time from "interface up" to "prefix bound": l2wg's DHCPv6 prefix-delegation client
# (examples/l2wg-dhcp6) side by side with Debian's dhcpcd, against the same Kea (kea-dhcp6) in
# the same run, runs of the clients alternating. Two modes: Kea's default settings (Solicit,
# Advertise, Request, Reply), and rapid commit enabled on Kea's subnet and on both clients
# (Solicit, Reply). Prints, per mode, the median of each client and the ratio l2wg/dhcpcd; the
# same for the client's own part (from its link-local address being usable to the prefix, which
# leaves out the kernel's random DAD time); where the time goes. Then a restart with a valid
# lease: l2wg-dhcp6 bound, SIGTERM, started again with the same state dir (it Rebinds at once);
# the time until it reports the prefix again, next to the round trip between the namespaces
# (ping). Targets: no slower than dhcpcd without breaking a MUST of RFC 8415; the
# restart bound again within one round trip plus 50 ms.
#
# What "interface up" means, the same for both clients:
#   - a server namespace with a bridge (Kea listens there; a veth pair keeps the bridge's carrier,
#     so the server side never sees a link change) and a client namespace; for each run a new
#     veth between them (a new MAC, so a new link-local address, and nothing left in the
#     server's neighbour cache), the client's end down;
#   - the client's link keeps the kernel's default duplicate address detection (accept_dad=1,
#     dad_transmits=1, RetransTimer 1 s, after a random delay of up to 1 s): both clients must
#     wait for their link-local address, as on a real tap;
#   - the client is started with fresh state (l2wg-dhcp6 a new state dir, so a new DUID; dhcpcd
#     new lease/DUID dirs, so a new DUID-LLT): every run is a fresh Solicit, though Kea keeps
#     its leases. We wait until it reports that it runs (l2wg-dhcp6 its "started" line, dhcpcd
#     its NOCARRIER hook) plus 200 ms, then
#     t0 = the wall clock right before `ip link set up` on the client's end;
#     t1 = when the client reports the prefix: l2wg-dhcp6 the wall_us of its prefix-added line,
#          dhcpcd the wall clock at the start of its hook script (-c) run with BOUND6 and a
#          new_dhcp6_ia_pd1_prefix1 (the fork/exec of the hook shows in "Reply->reported").
# Clients: l2wg-dhcp6 --no-initial-delay --prefix-length 56 [--rapid-commit] (a tunnel a user
# just brought up, which may skip the SHOULD-level initial delay); it collects
# Advertises for the first RT (1 s plus up to 10 %) unless one has preference 255, as RFC 8415
# §18.2.9 requires. dhcpcd as it comes: 9.4.1 waits 1 s plus up to 10 % before its first Solicit
# (its take on §18.2.1's random delay), then Requests on the first Advertise without collecting
# more. It runs IPv6 only, without router solicitation (with an ia_pd configured it starts
# DHCPv6 without an RA), ia_pd 1 with a /56 hint and no downstream interface, [option
# rapid_commit]; in manager mode (-M) with noup, so that it does not bring the link up itself,
# and nodev (no udev in a namespace); its /var/lib/dhcpcd and /run are private to its mount
# namespace. NODELAY=1 adds a third client, dhcpcd with `nodelay` (no initial delay, like
# l2wg-dhcp6 here).
# The breakdown comes from a capture on the server's bridge: "LL usable" is the first packet from
# the client's link-local address (the kernel's MLD report and router solicitation when DAD has
# succeeded; with OPTIMISTIC_DAD=1 it may be the client's own Solicit).
#
# Usage (root): L2WG_BUILD_DIR=build bench/dhcp6_bind_time.sh [RUNS]     (default 20)
#   CLIENTS="l2wg dhcpcd" picks the clients (the restart figure needs l2wg and mode default);
#   MODES="default rapid-commit" picks the modes; preference-255 is a third one (Kea sends the
#   Preference option with 255: a client may Request at once, §18.2.9);
#   OPTIMISTIC_DAD=1 gives the client's links optimistic DAD (RFC 4429: what the daemon could
#   set on a tap it owns); KEEP=1 keeps the work dir (the capture, the logs of each client's
#   last run).
set -Eeuo pipefail

RUNS=${1:-20}
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "RUNS must be a positive number"; exit 2; }
L2WG_SOURCE_DIR=${L2WG_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=tests/lib/netns.sh
source "$(dirname "$0")/../tests/lib/netns.sh"
# shellcheck source=tests/lib/kea.sh
source "$(dirname "$0")/../tests/lib/kea.sh"
bench_init dhcp6_bind_time

TOOL=$L2WG_BUILD_DIR/examples/l2wg-dhcp6
read -r -a CLIENTS <<<"${CLIENTS:-l2wg dhcpcd}"
read -r -a MODES <<<"${MODES:-default rapid-commit}"
for mode in "${MODES[@]}"; do
  case $mode in default | rapid-commit | preference-255) ;; *) echo "unknown mode '$mode'"; exit 2 ;; esac
done
[ "${NODELAY:-0}" = 1 ] && CLIENTS+=(dhcpcd-nodelay)
for client in "${CLIENTS[@]}"; do
  case $client in
    l2wg) [ -x "$TOOL" ] || { echo "no $TOOL: build the target l2wg-dhcp6"; exit 1; } ;;
    dhcpcd | dhcpcd-nodelay) command -v dhcpcd >/dev/null || { echo "dhcpcd is missing (dhcpcd5)"; exit 1; } ;;
    *) echo "unknown client '$client'"; exit 2 ;;
  esac
done
need kea-dhcp6 tcpdump

SRV=d6bs-$TAG
CLI=d6bc-$TAG
IF=d6c  # the client's end of the veth, in $CLI; the server's end is d6p in $SRV
ns_add "$SRV"
ns_add "$CLI"
# ns_add turns DAD off; the client's links get the kernel's default back.
ip netns exec "$CLI" sysctl -qw net.ipv6.conf.all.accept_dad=1 net.ipv6.conf.default.accept_dad=1
DAD="the kernel's default DAD"
if [ "${OPTIMISTIC_DAD:-0}" = 1 ]; then
  ip netns exec "$CLI" sysctl -qw net.ipv6.conf.default.optimistic_dad=1 \
    net.ipv6.conf.default.use_optimistic=1
  DAD="optimistic DAD (RFC 4429)"
fi
ip -n "$SRV" link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0
ip -n "$SRV" link add keep type veth peer name keep-peer
ip -n "$SRV" link set keep master br0 up
ip -n "$SRV" link set keep-peer up
ip -n "$SRV" link set br0 up
ip -n "$SRV" addr add 2001:db8:1::1/64 dev br0
wait_for 10 bash -c "ip -n $SRV -6 addr show dev br0 scope link | grep -q fe80" ||
  { echo "br0 has no link-local address"; exit 1; }
SERVER_LL=$(link_local "$SRV" br0)

# forget_pid PID: a process of ours that has exited; the exit trap must not signal its number.
forget_pid() {
  local kept=() pid
  for pid in "${_l2wg_pids[@]}"; do [ "$pid" = "$1" ] || kept+=("$pid"); done
  _l2wg_pids=("${kept[@]}")
}
# stop_and_forget PID: SIGTERM, SIGKILL after 5 s, reaped.
stop_and_forget() {
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  forget_pid "$1"
}

# The capture all the breakdowns come from (all IPv6 on the bridge: little but DHCPv6 and ICMPv6).
ip netns exec "$SRV" tcpdump -i br0 -n -tt -l ip6 \
  >"$WORKDIR/capture.txt" 2>"$WORKDIR/tcpdump.log" &
CAPTURE_PID=$!
_l2wg_pids+=("$CAPTURE_PID")
wait_for 10 grep -q 'listening on' "$WORKDIR/tcpdump.log" ||
  { echo "tcpdump did not start:"; cat "$WORKDIR/tcpdump.log"; exit 1; }

# start_kea MODE: a fresh Kea (empty memfile) on br0, with rapid commit in mode rapid-commit and
# the Preference option 255 in mode preference-255.
start_kea() {
  local settings=()
  [ "$1" = rapid-commit ] && settings=(--rapid-commit)
  [ "$1" = preference-255 ] && settings=(--always-send preference 255)
  kea_config "$WORKDIR/kea.json" --server-id 02005e100002 \
    --subnet br0 2001:db8:1::/64 2001:db8:100::/40 "${settings[@]}"
  kea_start "$SRV" "$WORKDIR/kea.json" "$WORKDIR/kea.log"
}
stop_kea() { stop_and_forget "$KEA_PID"; }

# new_link: a new veth, the server's end in the bridge and up, the client's end down.
new_link() {
  ip link add "$IF" netns "$CLI" type veth peer name d6p netns "$SRV"
  ip -n "$SRV" link set d6p master br0 up
}

# start_client CLIENT RAPID DIR: starts it on the (down) link with fresh state in DIR, waits
# until it runs and waits for the link; sets CLIENT_PID.
start_client() {
  local client=$1 rapid=$2 dir=$3
  mkdir -p "$dir"
  case $client in
    l2wg)
      local args=(--interface "$IF" --state-dir "$dir/state" --prefix-length 56 --no-initial-delay
        --log-level debug)
      [ "$rapid" = true ] && args+=(--rapid-commit)
      ip netns exec "$CLI" "$TOOL" "${args[@]}" >"$dir/out.jsonl" 2>"$dir/stderr.log" &
      CLIENT_PID=$!
      _l2wg_pids+=("$CLIENT_PID")
      wait_for 10 grep -q '"event":"started"' "$dir/out.jsonl" ||
        { echo "l2wg-dhcp6 did not start:"; cat "$dir/stderr.log"; exit 1; }
      ;;
    dhcpcd*)
      mkdir -p "$dir/db"
      {
        echo "nodev"
        echo "noup"
        echo "ipv6only"
        echo "noipv6rs"
        [ "$client" = dhcpcd-nodelay ] && echo "nodelay"
        [ "$rapid" = true ] && echo "option rapid_commit"
        echo "allowinterfaces $IF"
        echo "interface $IF"
        echo "  ia_pd 1/::/56 -"
      } >"$dir/dhcpcd.conf"
      cat >"$dir/hook" <<HOOK
#!/bin/bash
now=\$EPOCHREALTIME
echo "\$now \$reason \${new_dhcp6_ia_pd1_prefix1:-}/\${new_dhcp6_ia_pd1_prefix1_length:-}" >>"$dir/hook.log"
HOOK
      chmod 0755 "$dir/hook"
      # `ip netns exec` gives it a mount namespace of its own: its state dirs are mounted over
      # the compiled-in /var/lib/dhcpcd and /run/dhcpcd there only.
      # shellcheck disable=SC2016  # $1 is sh's, not ours
      ip netns exec "$CLI" sh -c 'mount -t tmpfs tmpfs /run && mkdir /run/dhcpcd &&
        mount --bind "$1/db" /var/lib/dhcpcd &&
        exec dhcpcd -B -M -f "$1/dhcpcd.conf" -c "$1/hook" -C resolv.conf' sh "$dir" \
        >"$dir/stderr.log" 2>&1 &
      CLIENT_PID=$!
      _l2wg_pids+=("$CLIENT_PID")
      wait_for 10 grep -q ' NOCARRIER ' "$dir/hook.log" ||
        { echo "dhcpcd did not start:"; cat "$dir/stderr.log"; exit 1; }
      ;;
  esac
  sleep 0.2
}

# bound_at CLIENT DIR: the wall time (s.µs) at which the client reported a delegated prefix, or
# nothing yet.
bound_at() {
  case $1 in
    l2wg)
      grep -m1 '"event":"prefix-added"' "$2/out.jsonl" 2>/dev/null |
        sed -nE 's/.*"wall_us":([0-9]+).*/\1/p' | awk '{printf "%d.%06d\n", $1 / 1e6, $1 % 1e6}' ||
        true
      ;;
    dhcpcd*)
      awk '$2 ~ /^(BOUND6|REBIND6|REBOOT6|RENEW6)$/ && $3 ~ /^[0-9a-f:]+\/[0-9]+$/ {print $1; exit}' \
        "$2/hook.log" 2>/dev/null || true
      ;;
  esac
}

# one_run CLIENT MODE RAPID INDEX: one measurement; appends a line to $WORKDIR/runs.
one_run() {
  local client=$1 mode=$2 rapid=$3 index=$4
  local dir=$WORKDIR/run-$mode-$client-$index
  new_link
  start_client "$client" "$rapid" "$dir"
  local t0=$EPOCHREALTIME
  ip -n "$CLI" link set "$IF" up
  local t1="" deadline=$((SECONDS + 20))
  while [ -z "$t1" ]; do
    [ $SECONDS -lt $deadline ] || {
      echo "$client ($mode, run $index) bound no prefix in 20 s; its log:"
      tail -n 30 "$dir/stderr.log" "$dir/out.jsonl" "$dir/hook.log" 2>/dev/null
      exit 1
    }
    sleep 0.02
    t1=$(bound_at "$client" "$dir")
  done
  local ll
  ll=$(link_local "$CLI" "$IF")
  stop_and_forget "$CLIENT_PID"
  ip -n "$CLI" link del "$IF"
  echo "$mode $client $index $t0 $t1 $ll" >>"$WORKDIR/runs"
  printf '  %-14s %-15s run %2d: %7.1f ms\n' "$mode" "$client" "$index" \
    "$(bc <<<"($t1 - $t0) * 1000")" >&2
  # Only the last run's files are kept, for a look after a surprise.
  rm -rf "$WORKDIR/last-$client"
  mv "$dir" "$WORKDIR/last-$client"
}

: >"$WORKDIR/runs"
for mode in "${MODES[@]}"; do
  rapid=false
  [ "$mode" = rapid-commit ] && rapid=true
  start_kea "$mode"
  echo "$mode: $RUNS runs of each of ${CLIENTS[*]}" >&2
  for index in $(seq "$RUNS"); do
    # Alternate which client goes first, so that neither always follows the other.
    order=("${CLIENTS[@]}")
    if ((index % 2 == 0)); then
      order=()
      for ((k = ${#CLIENTS[@]} - 1; k >= 0; k--)); do order+=("${CLIENTS[k]}"); done
    fi
    for client in "${order[@]}"; do one_run "$client" "$mode" "$rapid" "$index"; done
  done
  if [ "$mode" = default ] && [[ " ${CLIENTS[*]} " == *" l2wg "* ]]; then
    # --- Restart with a valid lease, against Kea's default settings ---------------------------
    dir=$WORKDIR/restart
    new_link
    start_client l2wg false "$dir"
    ip -n "$CLI" link set "$IF" up
    wait_for 20 grep -q '"event":"prefix-added"' "$dir/out.jsonl" ||
      { echo "l2wg-dhcp6 bound no prefix for the restart runs"; tail -n 30 "$dir/stderr.log"; exit 1; }
    PREFIX=$(grep -m1 '"event":"prefix-added"' "$dir/out.jsonl" | sed -nE 's/.*"prefix":"([^"]+)".*/\1/p')
    RTT_MS=$(ip netns exec "$CLI" ping -6 -n -q -c 20 -i 0.05 "$SERVER_LL%$IF" |
      sed -nE 's|^rtt min/avg/max/mdev = [0-9.]+/([0-9.]+)/.*|\1|p')
    ll=$(link_local "$CLI" "$IF")
    echo "restart: $RUNS restarts with the lease of $PREFIX" >&2
    for index in $(seq "$RUNS"); do
      stop_and_forget "$CLIENT_PID"
      out=$dir/out-$index.jsonl
      t0=$EPOCHREALTIME
      ip netns exec "$CLI" "$TOOL" --interface "$IF" --state-dir "$dir/state" --prefix-length 56 \
        --no-initial-delay --log-level debug >"$out" 2>"$dir/stderr-$index.log" &
      CLIENT_PID=$!
      _l2wg_pids+=("$CLIENT_PID")
      wait_for 10 grep -qE '"event":"prefix-(added|changed)"' "$out" ||
        { echo "l2wg-dhcp6 was not bound again after restart $index:"; tail -n 30 "$dir/stderr-$index.log"; exit 1; }
      echo "restart l2wg $index $t0 $out $ll" >>"$WORKDIR/restarts"
    done
    stop_and_forget "$CLIENT_PID"
    ip -n "$CLI" link del "$IF"
  fi
  stop_kea
done
sleep 0.2  # the capture's last lines
stop_and_forget "$CAPTURE_PID"

echo
echo "DHCPv6 prefix delegation, interface up -> prefix bound, median of $RUNS runs, $DAD;" \
  "Kea $(kea-dhcp6 -v), $(dhcpcd --version | head -1), kernel $(uname -r), $(nproc) CPUs," \
  "load average $(cut -d' ' -f1 /proc/loadavg)"
python3 - "$WORKDIR/runs" "$WORKDIR/capture.txt" "${RTT_MS:-}" "${PREFIX:-}" \
  "$WORKDIR/restarts" "${MODES[*]}" "${CLIENTS[@]}" <<'EOF'
import json, os, re, statistics, sys
runs_file, capture_file, rtt, prefix, restarts_file, modes, *clients = sys.argv[1:]
modes = modes.split()

packets = []  # (time, source, destination, DHCPv6 message type or None), ports stripped
line_re = re.compile(r'^(\d+\.\d+) IP6 (\S+) > (\S+): (.*)$')
for line in open(capture_file):
    m = line_re.match(line)
    if not m:
        continue
    source, destination, what = m.group(2), m.group(3).rstrip(':'), m.group(4)
    kind = None
    if what.startswith('dhcp6 '):
        kind = what.split()[1]
        source, destination = source.rsplit('.', 1)[0], destination.rsplit('.', 1)[0]
    packets.append((float(m.group(1)), source, destination, kind))

def median(values):
    return statistics.median(values) if values else float('nan')

class Run:
    def __init__(self, t0, t1, ll):
        self.total = (t1 - t0) * 1e3
        window = [p for p in packets if t0 <= p[0] <= t1]
        usable = next((p[0] for p in window if p[1] == ll), None)
        solicit = next((p[0] for p in window if p[1] == ll and p[3] == 'solicit'), None)
        reply = next((p[0] for p in window if p[2] == ll and p[3] == 'reply'), None)
        self.found = None not in (usable, solicit, reply)
        if self.found:
            self.parts = ((usable - t0) * 1e3, (solicit - usable) * 1e3, (reply - solicit) * 1e3,
                          (t1 - reply) * 1e3)
            self.after_ll = (t1 - usable) * 1e3
            self.solicits = sum(1 for p in window if p[1] == ll and p[3] == 'solicit')
            self.exchange = ' '.join(p[3] for p in window if ll in p[1:3] and p[3])

results = {}
for line in open(runs_file):
    mode, client, _index, t0, t1, ll = line.split()
    results.setdefault((mode, client), []).append(Run(float(t0), float(t1), ll))

def table(title, value):
    ratios = [c for c in clients if c != 'l2wg'] if 'l2wg' in clients else []
    print(title)
    print(f"{'mode':16s}" + ''.join(f"{c + ' ms':>18s}" for c in clients) +
          ''.join(f"{'l2wg/' + c:>22s}" for c in ratios))
    for mode in modes:
        medians = {c: median([value(r) for r in results.get((mode, c), []) if value(r) is not None])
                   for c in clients}
        print(f"{mode:16s}" + ''.join(f"{medians[c]:18.0f}" for c in clients) +
              ''.join(f"{medians['l2wg'] / medians[c]:22.2f}" for c in ratios))

table("interface up -> prefix reported, medians:", lambda r: r.total)
table("\nthe client's own part: link-local address usable (DAD done) -> prefix reported, medians:",
      lambda r: r.after_ll if r.found else None)

print("\nwhere the time goes, medians in ms (from a capture on the server's bridge):")
print(f"{'mode':16s}{'client':16s}{'up->LL usable':>15s}{'LL->Solicit':>13s}"
      f"{'Solicit->Reply':>16s}{'Reply->reported':>17s}{'Solicits':>10s}  exchange")
for mode in modes:
    for c in clients:
        runs = results.get((mode, c), [])
        found = [r for r in runs if r.found]
        if not found:
            continue
        exchanges = {r.exchange for r in found}
        print(f"{mode:16s}{c:16s}" +
              ''.join(f"{median([r.parts[i] for r in found]):{w}.1f}"
                      for i, w in ((0, 15), (1, 13), (2, 16), (3, 17))) +
              f"{median([r.solicits for r in found]):10.0f}  " +
              (exchanges.pop() if len(exchanges) == 1 else f"{len(exchanges)} different"))
        if len(found) < len(runs):
            print(f"  ({len(runs) - len(found)} runs not found in the capture)")

for mode in modes:
    for c in clients:
        values = sorted(r.total for r in results.get((mode, c), []))
        print(f"runs {mode} {c} (ms): " + ' '.join(f"{v:.0f}" for v in values))

def message_type(event):  # of a sent/received line; tolerant of "r-e-p-l-y"
    return event.get('type', '').replace('-', '')

if os.path.exists(restarts_file):
    steps = {k: [] for k in ('start', 'send', 'exchange', 'report', 'bound', 'total')}
    first_sent, same = set(), 0
    for line in open(restarts_file):
        _mode, _client, _index, t0, out, _ll = line.split()
        t0_us = float(t0) * 1e6
        events = [json.loads(l) for l in open(out) if l.startswith('{')]
        def first(predicate, among=events):
            return next((e for e in among if predicate(e)), None)
        started = first(lambda e: e['event'] == 'started')
        sent = first(lambda e: e['event'] == 'sent')
        reply = first(lambda e: e['event'] == 'received' and message_type(e) == 'reply')
        after = events[events.index(reply):] if reply else []
        bound = first(lambda e: e['event'] == 'state' and e.get('state') == 'bound', after)
        added = first(lambda e: e['event'] in ('prefix-added', 'prefix-changed'), after)
        first_sent.add(message_type(sent) if sent else 'nothing')
        if not (sent and reply and bound and added):
            continue
        steps['start'].append((started['wall_us'] - t0_us) / 1e3)
        steps['send'].append((sent['wall_us'] - started['wall_us']) / 1e3)
        steps['exchange'].append((reply['wall_us'] - sent['wall_us']) / 1e3)
        steps['report'].append((added['wall_us'] - reply['wall_us']) / 1e3)
        steps['bound'].append((bound['wall_us'] - t0_us) / 1e3)
        steps['total'].append((added['wall_us'] - t0_us) / 1e3)
        if added['prefix'] == prefix and not any(e['event'] == 'prefix-lost' for e in events):
            same += 1
    runs = sum(1 for _ in open(restarts_file))
    m = {k: median(v) for k, v in steps.items()}
    rtt_ms = float(rtt) if rtt else float('nan')
    print(f"\nrestart with a valid lease, l2wg-dhcp6 ({runs} runs, t0 = just before the process is"
          f" started; first message: {', '.join(sorted(first_sent))}; the same prefix in"
          f" {same}/{runs}):")
    print(f"  prefix reported after {m['total']:.1f} ms (median; state bound after {m['bound']:.1f}"
          f" ms) = process start to its \"started\" line {m['start']:.1f} + to the Rebind"
          f" {m['send']:.1f} + Rebind->Reply {m['exchange']:.1f} + Reply->prefix reported (the"
          f" lease file written first) {m['report']:.1f}")
    print(f"  round trip client<->server (ping, average) {rtt_ms:.3f} ms; target: within RTT + 50 ms"
          f" = {rtt_ms + 50:.1f} ms: {'met' if m['total'] <= rtt_ms + 50 else 'NOT met'}")
    print("  runs (ms): " + ' '.join(f"{v:.1f}" for v in sorted(steps['total'])))
EOF
