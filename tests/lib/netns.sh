# Shared helpers for the netns and kernel tiers. Source it, then call l2wg_test_init.
# Everything a test creates (namespaces, processes) is registered and removed by an EXIT trap,
# processes killed by PID, never by name.
set -euo pipefail

L2WG_BUILD_DIR=${L2WG_BUILD_DIR:?L2WG_BUILD_DIR must point at the build directory}
PLUMB="$L2WG_BUILD_DIR/examples/l2wg-plumb"
# The script tools of tests/tools (the built ones are under $L2WG_BUILD_DIR/tests/tools).
L2WG_TOOLS=$(cd "$(dirname "${BASH_SOURCE[0]}")/../tools" && pwd)
# UAPI sockets (/var/run/wireguard/NAME.sock) are shared by all namespaces, so interface names
# carry a per-run tag to stay unique on the machine.
TAG=${L2WG_TAG:-$(printf '%04x' $((RANDOM)))}
_l2wg_namespaces=()
_l2wg_pids=()
# L2WG_REGISTRY (optional): a directory where every namespace and process registered here is also
# written down (`namespaces`: one name a line; `pids`: "PID STARTTIME" a line, the start time from
# /proc/PID/stat), so that another process can remove them after this one is gone
# (scripts/demo.sh down, after a --keep or a killed run).
L2WG_REGISTRY=${L2WG_REGISTRY:-}
_l2wg_failures=0
_l2wg_checks=0

l2wg_test_init() {
  [ "$(id -u)" = 0 ] || { echo "FAIL: this test needs root"; exit 1; }
  trap _l2wg_cleanup EXIT
  trap 'exit 130' INT TERM
}

# bench_init NAME [CMD...]: l2wg_test_init for bench/NAME.sh. At exit CMD (if given) runs first,
# then the test's cleanup, and the work dir is removed unless KEEP=1; a command that fails is
# named with its line.
bench_init() {
  l2wg_test_init
  _bench_name=$1
  shift
  _bench_first=("$@")
  trap _bench_cleanup EXIT
  trap 'echo "$_bench_name: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
}
_bench_cleanup() {
  local status=$?
  [ ${#_bench_first[@]} = 0 ] || "${_bench_first[@]}" >/dev/null 2>&1 || true
  (_l2wg_cleanup) || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORKDIR" >&2; else rm -rf "$WORKDIR"; fi
  exit "$status"
}

# need PROGRAM...: each PROGRAM is installed (a name) or built (a path), else says which is not.
need() {
  local program
  for program in "$@"; do
    case $program in
      */*) [ -x "$program" ] || { echo "FAIL: $program is not built"; return 1; } ;;
      *) command -v "$program" >/dev/null ||
        { echo "FAIL: $program is not installed (scripts/deps.sh)"; return 1; } ;;
    esac
  done
}

_l2wg_cleanup() {
  local status=$?
  local pid ns
  for pid in "${_l2wg_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${_l2wg_pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  for ns in "${_l2wg_namespaces[@]}"; do
    ip netns delete "$ns" 2>/dev/null || true
    rm -rf "/etc/netns/$ns"
  done
  exit "$status"
}

# register_pid PID: PID is one of ours, stopped at exit (and written to the registry, if any).
register_pid() {
  _l2wg_pids+=("$1")
  [ -z "$L2WG_REGISTRY" ] || echo "$1 $(pid_start_time "$1")" >>"$L2WG_REGISTRY/pids"
}
# pid_start_time PID: when PID started (clock ticks since boot), to tell it from a later process
# given the same PID; "-" if it is gone.
pid_start_time() {
  local fields
  _pid_stat "$1" fields || { echo -; return; }
  echo "${fields[19]}"
}
# pid_alive PID [START]: PID runs (a zombie does not) and, with START, is the process that started
# then (pid_start_time).
pid_alive() {
  local fields
  _pid_stat "$1" fields || return 1
  [ "${fields[0]}" != Z ] || return 1
  [ -z "${2:-}" ] || [ "${fields[19]}" = "$2" ]
}
_pid_stat() {  # _pid_stat PID ARRAY: /proc/PID/stat's fields after the command name into ARRAY
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  read -r -a "$2" <<<"${stat##*) }"  # the command name may hold spaces and parentheses
}

# ns_add NAME: a namespace with loopback up and its own resolv.conf, removed at exit.
ns_add() {
  [ -z "$L2WG_REGISTRY" ] || echo "$1" >>"$L2WG_REGISTRY/namespaces"
  ip netns add "$1"
  _l2wg_namespaces+=("$1")
  mkdir -p "/etc/netns/$1"
  : >"/etc/netns/$1/resolv.conf"
  ip -n "$1" link set lo up
  ip netns exec "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
}

# bg_in NS LOGFILE CMD...: starts CMD in NS in the background and registers its PID.
bg_in() {
  local ns=$1 log=$2
  shift 2
  # 8 and 9 are a caller's saved stdout and stderr (scripts/demo.sh): no background program
  # keeps them open.
  ip netns exec "$ns" "$@" >"$log" 2>&1 8>&- 9>&- &
  BG_PID=$!
  register_pid "$BG_PID"
}

# stop_pid PID: SIGTERM and wait for it (it is one of ours).
stop_pid() {
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# wait_for SECONDS CMD...: polls CMD until it succeeds.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.1
  done
}

# wg_link NS IFNAME: a WireGuard interface; userspace (wireguard-go) unless L2WG_KERNEL_WG=1.
wg_link() {
  local ns=$1 ifname=$2
  if [ "${L2WG_KERNEL_WG:-0}" = 1 ]; then
    ip -n "$ns" link add "$ifname" type wireguard
  else
    rm -f "/var/run/wireguard/$ifname.sock"
    bg_in "$ns" "$WORKDIR/wireguard-go-$ifname.log" env WG_PROCESS_FOREGROUND=1 wireguard-go -f "$ifname"
    wait_for 10 test -S "/var/run/wireguard/$ifname.sock" ||
      { echo "wireguard-go did not start for $ifname"; cat "$WORKDIR/wireguard-go-$ifname.log"; return 1; }
  fi
}

# wg_pair NSA IFA NSB IFB INNER_A INNER_B PREFIXLEN: two namespaces joined by a veth (outer
# 192.0.2.1/.2) and a WireGuard tunnel with the given inner addresses (IPv4 or IPv6).
wg_pair() {
  local nsa=$1 ifa=$2 nsb=$3 ifb=$4 inner_a=$5 inner_b=$6 plen=$7
  ip link add "ve-$TAG-a" netns "$nsa" type veth peer name "ve-$TAG-b" netns "$nsb"
  ip -n "$nsa" addr add 192.0.2.1/24 dev "ve-$TAG-a"
  ip -n "$nsb" addr add 192.0.2.2/24 dev "ve-$TAG-b"
  ip -n "$nsa" link set "ve-$TAG-a" up
  ip -n "$nsb" link set "ve-$TAG-b" up
  wg_link "$nsa" "$ifa"
  wg_link "$nsb" "$ifb"
  local key_a key_b host_len
  key_a=$(wg genkey)
  key_b=$(wg genkey)
  WG_PUB_A=$(wg pubkey <<<"$key_a")
  WG_PUB_B=$(wg pubkey <<<"$key_b")
  case "$inner_a" in *:*) host_len=128 ;; *) host_len=32 ;; esac
  ip netns exec "$nsa" wg set "$ifa" listen-port 51820 private-key <(echo "$key_a") \
    peer "$WG_PUB_B" endpoint 192.0.2.2:51820 allowed-ips "$inner_b/$host_len"
  ip netns exec "$nsb" wg set "$ifb" listen-port 51820 private-key <(echo "$key_b") \
    peer "$WG_PUB_A" endpoint 192.0.2.1:51820 allowed-ips "$inner_a/$host_len"
  ip -n "$nsa" addr add "$inner_a/$plen" dev "$ifa"
  ip -n "$nsb" addr add "$inner_b/$plen" dev "$ifb"
  ip -n "$nsa" link set "$ifa" up
  ip -n "$nsb" link set "$ifb" up
}

# wan_bridge NS: a lab's WAN bridge br-wan in NS, with its uplink port (veth uplink, whose peer
# uplink-peer stays in NS) as a real one has: a bridge without ports loses its carrier for good
# once a port has come and gone (the kernel's doing, not l2wg's).
wan_bridge() {
  ip -n "$1" link add br-wan type bridge
  ip -n "$1" link add uplink type veth peer name uplink-peer
  ip -n "$1" link set uplink master br-wan up
  ip -n "$1" link set uplink-peer up
  ip -n "$1" link set br-wan up
}

# link_has NS DEV PATTERN: `ip -d link show DEV` in NS matches PATTERN (grep -E).
link_has() {
  ip -n "$1" -d link show "$2" | grep -Eq -- "$3"
}

# link_local NS DEV: the IPv6 link-local address of DEV in NS.
link_local() {
  ip -n "$1" -6 -o addr show dev "$2" scope link | awk '{sub("/.*", "", $4); print $4; exit}'
}

# cpu_ticks PID: the user and system CPU time of all its threads so far, in clock ticks (its
# children's not counted).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# settle NS...: waits until links have carrier and IPv6 link-local addresses are in place, so a
# snapshot taken next is not racing the kernel's own start-up of the links.
settle() {
  local ns
  for ns in "$@"; do
    wait_for 10 bash -c "! ip -n $ns link show | grep -q NO-CARRIER" || return 1
    wait_for 10 bash -c "! ip -n $ns addr show | grep -q tentative" || return 1
    # Every up, non-point-to-point link with IPv6 has its link-local address.
    local dev
    for dev in $(ip -n "$ns" -o link show up | awk -F': ' '$3 !~ /POINTOPOINT|LOOPBACK/ {split($2,a,"@"); print a[1]}'); do
      wait_for 10 bash -c "ip -n $ns -6 addr show dev $dev scope link | grep -q fe80" || return 1
    done
  done
}

# Traffic whose every byte or checksum is checked, for the frame rewriters (TAP offloads, MSS
# clamping) and the datapaths they run on.
# serve NS PYTHON: starts a one-shot server in NS that prints "listening" once it listens, then
# its answer, and returns once it listens. served then waits for it and sets SERVED to the answer
# (from the same shell: `wait` knows only that shell's children). After a failed client, unserve
# stops the server, which would wait for it forever: called in a command substitution, the
# server is not registered for the EXIT trap, so every way out must end it.
serve() {
  SERVER_LOG=$WORKDIR/server-$RANDOM.log
  bg_in "$1" "$SERVER_LOG" python3 -c "$2"
  SERVER_PID=$BG_PID
  wait_for 5 grep -q listening "$SERVER_LOG" || { unserve; return 1; }
}
served() {
  wait "$SERVER_PID" 2>/dev/null
  SERVED=$(sed -n 2p "$SERVER_LOG")
}
unserve() { stop_pid "$SERVER_PID"; }

# tcp_mss FROM_NS TO_NS DEST: "CLIENT SERVER", the MSS a TCP connection from FROM_NS to DEST in
# TO_NS ends up with on each side (with timestamps off, TCP_MAXSEG is exactly the MSS negotiated).
tcp_mss() {
  serve "$2" '
import socket
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", 5301))
s.listen(1)
print("listening", flush=True)
c, _ = s.accept()
print(c.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG), flush=True)
c.recv(1)' || return 1
  local client
  client=$(ip netns exec "$1" timeout 10 python3 -c '
import socket, sys
c = socket.create_connection((sys.argv[1], 5301), timeout=5)
print(c.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG))
c.send(b"x")' "$3") || { unserve; return 1; }
  served
  echo "$client $SERVED"
}

# tcp_transfer FROM_NS TO_NS DEST BYTES: "SENT_SHA256 RECEIVED_SHA256" of random bytes over TCP
# (port 5303).
tcp_transfer() {
  serve "$2" '
import hashlib, socket
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", 5303))
s.listen(1)
print("listening", flush=True)
c, _ = s.accept()
h = hashlib.sha256()
while data := c.recv(1 << 20):
    h.update(data)
print(h.hexdigest(), flush=True)' || return 1
  local sent
  sent=$(ip netns exec "$1" timeout 60 python3 -c '
import hashlib, os, socket, sys
data = os.urandom(int(sys.argv[2]))
c = socket.create_connection((sys.argv[1], 5303), timeout=30)
c.sendall(data)
c.close()
print(hashlib.sha256(data).hexdigest())' "$3" "$4") || { unserve; return 1; }
  served
  echo "$sent $SERVED"
}
intact_transfer() {  # intact_transfer FROM_NS TO_NS DEST BYTES
  local hashes
  hashes=$(tcp_transfer "$@")
  echo "sent and received: $hashes"
  [ -n "${hashes#* }" ] && [ "${hashes% *}" = "${hashes#* }" ]
}
# udp_delivery FROM_NS TO_NS DEST: "RECEIVED SENT" of 200 datagrams of 1 to 1400 bytes, each
# received only if its checksum holds.
udp_delivery() {
  serve "$2" '
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("::", 5304))
s.settimeout(3)
print("listening", flush=True)
n = 0
try:
    while True:
        s.recv(2048)
        n += 1
except socket.timeout:
    print(n, flush=True)' || return 1
  local sent
  sent=$(ip netns exec "$1" python3 -c '
import socket, sys, time
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(family, socket.SOCK_DGRAM)
sizes = range(1, 1401, 7)
for size in sizes:
    s.sendto(bytes(i % 251 for i in range(size)), (sys.argv[1], 5304))
    time.sleep(0.002)
print(len(sizes))' "$3") || { unserve; return 1; }
  served
  echo "$SERVED $sent"
}
all_delivered() {  # all_delivered FROM_NS TO_NS DEST
  local counts
  counts=$(udp_delivery "$@")
  echo "received and sent: $counts"
  [ -n "${counts#* }" ] && [ "${counts% *}" = "${counts#* }" ]
}
# checksum_errors NS: the counters of segments the namespace's kernel dropped for a bad checksum.
checksum_errors() {
  ip netns exec "$1" nstat -saz TcpInCsumErrors UdpInCsumErrors Udp6InCsumErrors |
    awk 'NR > 1 && $1 ~ /InCsumErrors$/ {printf "%s%s=%s", sep, $1, $2; sep = " "}'
}
# no_new_checksum_errors BEFORE NS...: the namespaces' checksum_errors are still BEFORE, as
# "NS: COUNTERS" lines.
no_new_checksum_errors() {
  local before=$1 now ns
  shift
  now=$(for ns in "$@"; do echo "$ns: $(checksum_errors "$ns")"; done)
  printf 'before:\n%s\nnow:\n%s\n' "$before" "$now"
  [ "$now" = "$before" ]
}
# snapshot NS: links, addresses and bridge ports, without counters or running timers, for
# "exactly as before" comparisons.
snapshot() {
  {
    ip -n "$1" -d link show | sed -E 's/ [a-z_]+_timer +[0-9.]+//g'
    ip -n "$1" addr show
    ip -n "$1" -d link show type bridge_slave 2>/dev/null | sed -E 's/ [a-z_]+_timer +[0-9.]+//g'
    bridge -n "$1" link show
  } 2>&1
}

# check DESCRIPTION CMD...: runs CMD, records pass or failure, never aborts the test.
check() {
  local what=$1
  shift
  _l2wg_checks=$((_l2wg_checks + 1))
  if "$@" >"$WORKDIR/check.out" 2>&1; then
    echo "ok - $what"
  else
    echo "FAIL - $what"
    sed 's/^/    /' "$WORKDIR/check.out" | tail -20
    _l2wg_failures=$((_l2wg_failures + 1))
  fi
}

# check_fails DESCRIPTION PATTERN CMD...: CMD must fail and print PATTERN (grep -E) on stderr/out.
check_fails() {
  local what=$1 pattern=$2
  shift 2
  _l2wg_checks=$((_l2wg_checks + 1))
  if "$@" >"$WORKDIR/check.out" 2>&1; then
    echo "FAIL - $what (succeeded, expected failure)"
    _l2wg_failures=$((_l2wg_failures + 1))
  elif grep -Eq -- "$pattern" "$WORKDIR/check.out"; then
    echo "ok - $what: $(head -1 "$WORKDIR/check.out")"
  else
    echo "FAIL - $what: expected /$pattern/, got:"
    sed 's/^/    /' "$WORKDIR/check.out" | tail -5
    _l2wg_failures=$((_l2wg_failures + 1))
  fi
}

# same_text DESCRIPTION FILE_A FILE_B
same_text() {
  check "$1" diff -u "$2" "$3"
}

# at_least A B, at_most A B: numbers (decimals too) compared for check, which shows how they
# compare when they do not.
at_least() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 >= b + 0) exit 0; print a " < " b; exit 1 }'; }
at_most() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 <= b + 0) exit 0; print a " > " b; exit 1 }'; }
# seconds_between FROM TO: TO - FROM (epoch seconds), to the hundredth.
seconds_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
# prefix_within PREFIX NET LEN: PREFIX is a /LEN inside NET.
prefix_within() { python3 "$L2WG_TOOLS/prefixes.py" within "$@"; }
# overlapping PREFIX: prints the lines of stdin that name an IPv6 address or prefix overlapping
# PREFIX; fails if none does.
overlapping() { python3 "$L2WG_TOOLS/prefixes.py" overlapping "$1"; }

# finish: the verdict of the test. Zero checks is a failure: a test must assert something.
finish() {
  # A sanitizer build reports into the logs of the programs the test ran: any report fails it.
  local reports
  reports=$(grep -rlE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$WORKDIR" 2>/dev/null || true)
  _l2wg_checks=$((_l2wg_checks + 1))
  if [ -n "$reports" ]; then
    echo "FAIL - sanitizer reports in: $reports"
    grep -hE -A15 'ERROR: (Address|Leak)Sanitizer|runtime error:' $reports | head -40
    _l2wg_failures=$((_l2wg_failures + 1))
  else
    echo "ok - no sanitizer report in the programs' logs"
  fi
  echo "$_l2wg_checks checks, $_l2wg_failures failed"
  if [ "$_l2wg_failures" -gt 0 ]; then  # what the programs said, for diagnosis in CI logs
    local log
    for log in "$WORKDIR"/*.log; do
      [ -f "$log" ] || continue
      echo "--- last lines of $(basename "$log")"
      tail -n 15 "$log" | cut -c1-300
    done
  fi
  [ "$_l2wg_checks" -gt 0 ] && [ "$_l2wg_failures" -eq 0 ]
}

# L2WG_WORKDIR: a directory of the caller's for logs, configs and sockets (scripts/demo.sh's run
# dir); by default a new one under /tmp.
if [ -n "${L2WG_WORKDIR:-}" ]; then
  WORKDIR=$L2WG_WORKDIR
else
  WORKDIR=$(mktemp -d /tmp/l2wg-test.XXXXXX)
  # Unprivileged test callers (setpriv) must reach the private bus socket in here.
  chmod 0755 "$WORKDIR"
fi

# system_bus: a private dbus-daemon with the system bus's policy and l2wg's own policy file;
# exports DBUS_SYSTEM_BUS_ADDRESS for everything started afterwards.
system_bus() {
  local socket=$WORKDIR/system_bus_socket
  sed -e "s|@SOCKET@|$socket|" -e "s|@POLICY@|$L2WG_SOURCE_DIR/dbus/net.l2wg1.conf|" \
    "$L2WG_SOURCE_DIR/tests/lib/system-bus.conf.in" >"$WORKDIR/system-bus.conf"
  dbus-daemon --config-file="$WORKDIR/system-bus.conf" --nofork --nopidfile >"$WORKDIR/dbus.log" 2>&1 8>&- 9>&- &
  register_pid "$!"
  wait_for 10 test -S "$socket" || { echo "dbus-daemon did not start"; cat "$WORKDIR/dbus.log"; return 1; }
  export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$socket
}

# daemon_on_bus: net.l2wg1 has an owner (asked of the bus itself: `busctl status` needs creds
# that a system without systemd, like the kernel tier's VM, cannot give).
daemon_on_bus() {
  [ "$(busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
    NameHasOwner s net.l2wg1 2>/dev/null)" = "b true" ]
}

# start_daemon NS [ARGS...]: l2wgd in NS with config and state under $WORKDIR, waits until it
# owns its bus name. Sets DAEMON_PID.
start_daemon() {
  local ns=$1
  shift
  mkdir -p "$WORKDIR/etc" "$WORKDIR/state"
  bg_in "$ns" "$WORKDIR/l2wgd.log" "$L2WG_BUILD_DIR/daemon/l2wgd" --config-dir "$WORKDIR/etc" \
    --state-dir "$WORKDIR/state" --log-level debug "$@"
  DAEMON_PID=$BG_PID
  wait_for 20 daemon_on_bus ||
    { echo "l2wgd did not come up:"; cat "$WORKDIR/l2wgd.log"; return 1; }
}
