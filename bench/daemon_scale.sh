#!/usr/bin/env bash
# l2wgd at scale: N bridge-mode tunnels (tap l2-tN, all in one bridge br-wan) over ONE userspace
# WireGuard interface (wireguard-go) with N peers, each tunnel made by CreateTunnel on a private
# system bus. For each N, a fresh namespace, wireguard-go, bus and daemon; it measures
#   - the wall time of the N calls made back to back by one client process (sd-bus through
#     python3 ctypes, so no process start per call), and the per-call latency of the first and
#     last tenth (a rise means work per tunnel grows with the number of tunnels);
#   - the daemon's own CPU time (utime+stime) spent during those calls;
#   - the time busctl takes per call (process start, bus connection, a trivial GetTunnel), so
#     that a script creating tunnels with busctl or l2wg can add it;
#   - peak RSS (VmHWM) after the calls and after the idle period;
#   - idle CPU of the daemon, all threads (the 5 s WireGuard peer poll included), over
#     IDLE_SECONDS after SETTLE_SECONDS of rest, in % of one core.
# Targets: 1000 tunnels in under 10 s, under 30 MiB RSS, idle CPU under 1 %.
#
# Usage (root): L2WG_BUILD_DIR=build bench/daemon_scale.sh [COUNT...]     (default: 100 1000)
#   IDLE_SECONDS=30 SETTLE_SECONDS=10 tune the idle measurement.
#   CLIENT=busctl creates the tunnels with one busctl process per call instead.
#   NOFILE=1024 starts l2wgd with that soft limit of open files (systemd's default for services).
#   PERF=1 records l2wgd and wireguard-go with perf during the calls and prints the top symbols.
set -euo pipefail

IDLE_SECONDS=${IDLE_SECONDS:-30}
SETTLE_SECONDS=${SETTLE_SECONDS:-10}
CLIENT=${CLIENT:-sdbus}
L2WG_SOURCE_DIR=${L2WG_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
export L2WG_SOURCE_DIR

if [ "${1:-}" != --one ]; then
  # Each count runs in a child of its own, with its own namespaces, processes and cleanup trap;
  # this parent only collects their result lines.
  : "${L2WG_BUILD_DIR:?L2WG_BUILD_DIR must point at the build directory}"
  counts=("$@")
  [ ${#counts[@]} -gt 0 ] || counts=(100 1000)
  results=()
  for n in "${counts[@]}"; do
    [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 10 ] && [ "$n" -le 4000 ] ||
      { echo "COUNT must be 10..4000, not '$n'"; exit 2; }
    echo "=== $n tunnels ($CLIENT client) ==="
    out=$(timeout $((300 + n + IDLE_SECONDS + SETTLE_SECONDS)) "$0" --one "$n" | tee /dev/stderr) ||
      { echo "the run with $n tunnels failed"; exit 1; }
    results+=("$(grep '^RESULT ' <<<"$out" | cut -d' ' -f2-)")
  done
  echo
  echo "l2wgd scale, userspace datapath, wireguard-go, $(nproc) CPUs, load average" \
    "$(cut -d' ' -f1 /proc/loadavg), client $CLIENT, idle over ${IDLE_SECONDS}s"
  format='%-8s %9s %8s %10s %10s %8s %8s %8s %9s %8s %8s %8s %8s %9s\n'
  # shellcheck disable=SC2059
  printf "$format" tunnels "create(s)" "ms/call" "1st10%ms" "last10%ms" l2wgdCPU wgCPU "CPUwait" \
    "busctl-ms" "HWM-MiB" "idleHWM" "idleCPU%" "disp-us" "loopCPUus"
  for r in "${results[@]}"; do
    # shellcheck disable=SC2059,SC2086
    printf "$format" $r
  done
  echo "create: N CreateTunnel calls back to back ($CLIENT); l2wgd/wgCPU: CPU time of" \
    "l2wgd / wireguard-go meanwhile; CPUwait: time they were runnable but had no CPU;" \
    "busctl-ms: what one busctl process adds per call; disp-us, loopCPUus: one trivial call's" \
    "latency and the CPU l2wgd's event-loop thread spends on it (event dispatch)"
  echo "targets: 1000 tunnels in < 10 s, < 30 MiB RSS, idle CPU < 1 % of one core"
  exit 0
fi

# --- One run: N tunnels ------------------------------------------------------------------------
N=$2
# shellcheck source=tests/lib/netns.sh
source "$(dirname "$0")/../tests/lib/netns.sh"
l2wg_test_init
trap 'echo "daemon_scale: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
LAB=l2bnlab-$TAG
WG=wgbn$TAG

ns_add "$LAB"
wg_link "$LAB" "$WG"
WG_GO_PID=$BG_PID

# N peers, 10.1.X.Y/32 each. Peers are public keys only (no endpoint): any 32 random bytes are a
# valid X25519 public key, and os.urandom is far quicker than N runs of wg genkey | wg pubkey.
python3 - "$N" "$(wg genkey)" >"$WORKDIR/wg.conf" <<'EOF'
import base64, os, sys
n, private = int(sys.argv[1]), sys.argv[2]
print(f"[Interface]\nPrivateKey = {private}\nListenPort = 51820\n")
for i in range(n):
    key = base64.b64encode(os.urandom(32)).decode()
    print(f"[Peer]\nPublicKey = {key}\nAllowedIPs = 10.1.{1 + i // 250}.{1 + i % 250}/32\n")
EOF
ip netns exec "$LAB" wg setconf "$WG" "$WORKDIR/wg.conf"
ip -n "$LAB" addr add 10.1.0.1/16 dev "$WG"
ip -n "$LAB" link set "$WG" up
peers=$(ip netns exec "$LAB" wg show "$WG" peers | wc -l)
[ "$peers" -eq "$N" ] || { echo "wireguard-go has $peers peers, expected $N"; exit 1; }

wan_bridge "$LAB"

system_bus
BUS_PID=${_l2wg_pids[-1]}
# As start_daemon, but at the default log level: debug logging is not what a deployment pays.
mkdir -p "$WORKDIR/etc" "$WORKDIR/state"
limit=()
[ -n "${NOFILE:-}" ] && limit=(prlimit "--nofile=$NOFILE:" --)
bg_in "$LAB" "$WORKDIR/l2wgd.log" "${limit[@]}" "$L2WG_BUILD_DIR/daemon/l2wgd" --config-dir "$WORKDIR/etc" \
  --state-dir "$WORKDIR/state" --log-level info
DAEMON_PID=$BG_PID
wait_for 10 busctl --system status net.l2wg1 ||
  { echo "l2wgd did not come up:"; cat "$WORKDIR/l2wgd.log"; exit 1; }

# calc EXPRESSION: bc with two decimals and a leading zero.
calc() { printf '%.2f' "$(bc <<<"scale=3; $1")"; }
# waiting_ns PID: time its threads spent runnable but waiting for a CPU (schedstat), in ns.
waiting_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $2} END {printf "%d", s}'; }
hwm_mib() { awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
TICKS=$(getconf CLK_TCK)

# The client: N CreateTunnel calls on one sd-bus connection; prints per-call milliseconds.
cat >"$WORKDIR/create.py" <<'EOF'
import ctypes, sys, time
n, wg = int(sys.argv[1]), sys.argv[2].encode()
lib = ctypes.CDLL("libsystemd.so.0")
bus = ctypes.c_void_p()
if lib.sd_bus_open_system(ctypes.byref(bus)) < 0:
    sys.exit("cannot connect to the system bus")
class BusError(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("message", ctypes.c_char_p), ("need_free", ctypes.c_int)]
lib.sd_bus_message_unref.argtypes = [ctypes.c_void_p]
out = []
for i in range(1, n + 1):
    error, reply = BusError(), ctypes.c_void_p()
    peer = f"10.1.{1 + (i - 1) // 250}.{1 + (i - 1) % 250}".encode()
    start = time.monotonic()
    r = lib.sd_bus_call_method(
        bus, b"net.l2wg1", b"/net/l2wg1", b"net.l2wg1.Manager", b"CreateTunnel",
        ctypes.byref(error), ctypes.byref(reply), b"sa{sv}b", f"t{i}".encode(), 4,
        b"WireGuard", b"s", wg, b"Peer", b"s", peer,
        b"Interface", b"s", f"l2-t{i}".encode(), b"Bridge", b"s", b"br-wan", 0)
    out.append((time.monotonic() - start) * 1000)
    if r < 0:
        sys.exit(f"CreateTunnel t{i}: {error.name.decode()}: {error.message.decode()}")
    lib.sd_bus_message_unref(reply)
print(" ".join(f"{ms:.2f}" for ms in out))
EOF
create_busctl() {
  local i
  for i in $(seq "$N"); do
    local start=$EPOCHREALTIME
    busctl --system call net.l2wg1 /net/l2wg1 net.l2wg1.Manager CreateTunnel 'sa{sv}b' "t$i" 4 \
      WireGuard s "$WG" Peer s "10.1.$((1 + (i - 1) / 250)).$((1 + (i - 1) % 250))" \
      Interface s "l2-t$i" Bridge s br-wan false >/dev/null
    printf '%s ' "$(calc "($EPOCHREALTIME - $start) * 1000")"
  done
  echo
}

if [ -n "${PERF:-}" ]; then
  perf record -q -F 499 -g -p "$DAEMON_PID,$WG_GO_PID" -o "$WORKDIR/perf.data" 2>"$WORKDIR/perf.log" &
  PERF_PID=$!
  _l2wg_pids+=("$PERF_PID")
  sleep 1
fi
ticks_before=$(cpu_ticks "$DAEMON_PID")
wg_ticks_before=$(cpu_ticks "$WG_GO_PID")
bus_ticks_before=$(cpu_ticks "$BUS_PID")
waiting_before=$(($(waiting_ns "$DAEMON_PID") + $(waiting_ns "$WG_GO_PID")))
start=$EPOCHREALTIME
if [ "$CLIENT" = busctl ]; then
  create_busctl >"$WORKDIR/latencies"
else
  python3 "$WORKDIR/create.py" "$N" "$WG" >"$WORKDIR/latencies"
fi
create_seconds=$(calc "$EPOCHREALTIME - $start")
daemon_cpu_seconds=$(calc "($(cpu_ticks "$DAEMON_PID") - $ticks_before) / $TICKS")
wg_cpu_seconds=$(calc "($(cpu_ticks "$WG_GO_PID") - $wg_ticks_before) / $TICKS")
bus_cpu_seconds=$(calc "($(cpu_ticks "$BUS_PID") - $bus_ticks_before) / $TICKS")
waiting_seconds=$(calc "($(waiting_ns "$DAEMON_PID") + $(waiting_ns "$WG_GO_PID") - $waiting_before) / 10^9")
hwm_created=$(hwm_mib "$DAEMON_PID")
if [ -n "${PERF:-}" ]; then
  kill -INT "$PERF_PID"
  wait "$PERF_PID" || true
  echo "perf profile of the calls (l2wgd and wireguard-go): $WORKDIR/perf.data"
  for sort in comm,dso comm,dso,sym; do
    perf report -i "$WORKDIR/perf.data" --no-children -g none --sort "$sort" --stdio 2>/dev/null |
      grep -E '^ +[0-9]' | head -25 || true
  done
fi

ports=$(ip -n "$LAB" -o link show master br-wan | grep -c ' l2-t' || true)
[ "$ports" -eq "$N" ] || { echo "br-wan has $ports tunnel ports, expected $N"; exit 1; }
read -r per_call first_tenth last_tenth < <(python3 - "$WORKDIR/latencies" <<'EOF'
import sys
ms = [float(x) for x in open(sys.argv[1]).read().split()]
tenth = max(len(ms) // 10, 1)
print(f"{sum(ms) / len(ms):.2f} {sum(ms[:tenth]) / tenth:.2f} {sum(ms[-tenth:]) / tenth:.2f}")
EOF
)

# busctl's own cost per call: a trivial method, 20 times.
start=$EPOCHREALTIME
for _ in $(seq 20); do
  busctl --system call net.l2wg1 /net/l2wg1 net.l2wg1.Manager GetTunnel s t1 >/dev/null
done
busctl_ms=$(calc "($EPOCHREALTIME - $start) * 1000 / 20")

# Event dispatch with N tunnels: DISPATCH_CALLS trivial calls (GetTunnel) on one connection, each
# one wake-up of l2wgd's event loop; the CPU time of l2wgd's loop thread (schedstat, ns) per call
# is what the loop and the call cost together, and grows with N if the loop scans every tunnel.
cat >"$WORKDIR/dispatch.py" <<'EOF'
import ctypes, sys, time
calls = int(sys.argv[1])
lib = ctypes.CDLL("libsystemd.so.0")
bus = ctypes.c_void_p()
if lib.sd_bus_open_system(ctypes.byref(bus)) < 0:
    sys.exit("cannot connect to the system bus")
lib.sd_bus_message_unref.argtypes = [ctypes.c_void_p]
start = time.monotonic()
for _ in range(calls):
    reply = ctypes.c_void_p()
    if lib.sd_bus_call_method(bus, b"net.l2wg1", b"/net/l2wg1", b"net.l2wg1.Manager",
                              b"GetTunnel", None, ctypes.byref(reply), b"s", b"t1") < 0:
        sys.exit("GetTunnel t1 failed")
    lib.sd_bus_message_unref(reply)
print(f"{(time.monotonic() - start) * 1e6 / calls:.1f}")
EOF
loop_ns() { awk '{print $1}' "/proc/$DAEMON_PID/task/$DAEMON_PID/schedstat"; }
DISPATCH_CALLS=${DISPATCH_CALLS:-5000}
loop_before=$(loop_ns)
dispatch_us=$(python3 "$WORKDIR/dispatch.py" "$DISPATCH_CALLS")
dispatch_cpu_us=$(calc "($(loop_ns) - $loop_before) / 1000 / $DISPATCH_CALLS")

# Idle: the kernel's start-up chatter on N new ports (DAD, MLD, router solicitations) passes
# through the datapath first; then nothing happens but the peer poll.
sleep "$SETTLE_SECONDS"
declare -A thread_before
for task in /proc/"$DAEMON_PID"/task/*; do thread_before[$task]=$(cpu_ticks "$DAEMON_PID/task/${task##*/}"); done
ticks_before=$(cpu_ticks "$DAEMON_PID")
wg_ticks_before=$(cpu_ticks "$WG_GO_PID")
wg_tx_before=$(ip netns exec "$LAB" cat "/sys/class/net/$WG/statistics/tx_packets")
start=$EPOCHREALTIME
sleep "$IDLE_SECONDS"
elapsed=$(bc <<<"scale=3; $EPOCHREALTIME - $start")
idle_percent=$(calc "($(cpu_ticks "$DAEMON_PID") - $ticks_before) * 100 / $TICKS / $elapsed")
wg_idle_percent=$(calc "($(cpu_ticks "$WG_GO_PID") - $wg_ticks_before) * 100 / $TICKS / $elapsed")
wg_tx_after=$(ip netns exec "$LAB" cat "/sys/class/net/$WG/statistics/tx_packets")
wg_tx_rate=$(calc "($wg_tx_after - $wg_tx_before) / $elapsed")
hwm_idle=$(hwm_mib "$DAEMON_PID")
threads=""
for task in /proc/"$DAEMON_PID"/task/*; do
  tid=${task##*/}
  used=$(($(cpu_ticks "$DAEMON_PID/task/$tid") - ${thread_before[$task]:-0}))
  threads+=" $(cat "$task/comm")=$(calc "$used * 100 / $TICKS / $elapsed")%"
done

echo "created $N tunnels in ${create_seconds}s (client $CLIENT): ${per_call} ms per call," \
  "first tenth ${first_tenth} ms, last tenth ${last_tenth} ms; CPU time meanwhile: l2wgd" \
  "${daemon_cpu_seconds}s, wireguard-go ${wg_cpu_seconds}s, dbus-daemon ${bus_cpu_seconds}s;" \
  "l2wgd and wireguard-go waited ${waiting_seconds}s for a CPU (other load on the host)"
echo "busctl: ${busctl_ms} ms per call (GetTunnel)"
echo "dispatch: $DISPATCH_CALLS GetTunnel calls, ${dispatch_us} µs per call;" \
  "l2wgd's loop thread spent ${dispatch_cpu_us} µs of CPU per call"
echo "VmHWM ${hwm_created} MiB after creation, ${hwm_idle} MiB after idle;" \
  "$(grep -E '^(VmRSS|RssAnon|RssFile|Threads)' "/proc/$DAEMON_PID/status" | tr -s ' \t' ' ' | tr '\n' ' ')"
echo "fds: $(ls "/proc/$DAEMON_PID/fd" | wc -l)"
echo "idle ${IDLE_SECONDS}s: daemon ${idle_percent}% of one core (threads:${threads});" \
  "wireguard-go ${wg_idle_percent}%; ${wg_tx_rate} packets/s into $WG (the taps' multicast)"
echo "RESULT $N $create_seconds $per_call $first_tenth $last_tenth ${daemon_cpu_seconds}s" \
  "${wg_cpu_seconds}s ${waiting_seconds}s $busctl_ms $hwm_created $hwm_idle $idle_percent" \
  "$dispatch_us $dispatch_cpu_us"
echo "daemon log: $(wc -l <"$WORKDIR/l2wgd.log") lines; warnings and errors:"
grep -E '\[(warning|error|critical)\]' "$WORKDIR/l2wgd.log" | sed -E 's/^\[[^]]*\] //; s/l2-t[0-9]+/l2-tN/g' |
  sort | uniq -c | sort -rn | head -5 || true
