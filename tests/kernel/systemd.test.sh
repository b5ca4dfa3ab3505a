#!/usr/bin/env bash
# l2wg-vm: systemd
# In the VM under a real systemd (252) as PID 1, with the real system bus and the project
# installed as `cmake --install` lays it out (vm.sh's systemd mode, asked for by the line above):
#   - systemd-sysusers creates group l2wg at boot, and the bus policy is loaded;
#   - a busctl call D-Bus-activates the stopped, not enabled l2wgd; `systemctl enable --now`;
#     the hardening is intact (capabilities, no_new_privs, seccomp);
#   - Type=notify: StatusText follows the tunnels, the watchdog is fed, `systemctl reload` re-reads
#     /etc/l2wg (RELOADING=1 ... READY=1);
#   - `systemctl stop` leaves the data plane;
#   - the hitless restart: a 100-per-second ping across a userspace tunnel (TAP and GRE socket in
#     systemd's fd store) and across a kernel gretap tunnel during `systemctl restart l2wgd` and
#     during `systemctl kill -s KILL l2wgd` (Restart=on-failure): the figures are printed;
#   - the journal has the tunnel's name as a field (L2WG_TUNNEL=) on the tunnel's messages.
# The far end is a namespace with kernel WireGuard and plain l2wg-plumb.
export L2WG_KERNEL_WG=1
source "$(dirname "$0")/../lib/netns.sh"
l2wg_test_init
need busctl systemctl journalctl setpriv "$PLUMB"
FAR=l2sdfar-$TAG

prop() { systemctl show -p "$1" --value l2wgd; }
main_pid() { prop MainPID; }
status_is() { [ "$(prop StatusText)" = "$1" ]; }
tunnel_state() { busctl get-property net.l2wg1 "/net/l2wg1/tunnel/$1" net.l2wg1.Tunnel State; }

check "systemd is PID 1, the system bus socket-activated by it" \
  bash -c '[ "$(cat /proc/1/comm)" = systemd ] && systemctl is-active -q dbus.socket'
# The host (the guest's lower layer) has no group l2wg: vm.sh's stage adds only the sysusers entry.
sysusers=$(for p in ConditionResult Result ExecMainStatus; do systemctl show -p "$p" --value systemd-sysusers; done | paste -sd' ')
echo "    systemd-sysusers.service: ConditionResult Result ExecMainStatus = $sysusers;" \
  "$(journalctl -b -o cat -u systemd-sysusers.service | grep -m1 l2wg || echo 'no journal line names l2wg')"
check "systemd-sysusers created group l2wg at boot ($(getent group l2wg))" bash -c \
  "[ '$sysusers' = 'yes success 0' ] && getent group l2wg && grep -qx 'g l2wg - -' /usr/lib/sysusers.d/l2wg.conf"
check "the unit runs the installed l2wgd (ExecStart $(prop ExecStart | grep -o 'path=[^ ;]*'))" \
  bash -c "systemctl show -p ExecStart l2wgd | grep -q 'path=$(command -v l2wgd) '"

# D-Bus activation of a stopped unit that is not enabled.
check "l2wgd is stopped and not enabled" bash -c \
  '[ "$(systemctl is-enabled l2wgd)" = disabled ] && ! systemctl is-active -q l2wgd'
check "busctl call ListTunnels D-Bus-activates l2wgd" \
  busctl call net.l2wg1 /net/l2wg1 net.l2wg1.Manager ListTunnels
check "l2wgd.service is active, started by the bus" systemctl is-active l2wgd
check "the bus policy is loaded: root owns net.l2wg1" bash -c \
  "busctl status net.l2wg1 | grep -q '^PID=$(main_pid)\$'"
# Two users, one a member of group l2wg (as `usermod -aG l2wg USER` makes one): the bus and l2wgd
# both go by the user database.
useradd --system --no-create-home --user-group l2wgsdother
useradd --system --no-create-home --user-group --groups l2wg l2wgsdmember
as_user() { setpriv --reuid="$1" --regid="$1" --init-groups busctl call net.l2wg1 /net/l2wg1 net.l2wg1.Manager "$2"; }
check "the policy: anyone may list the tunnels" as_user l2wgsdother ListTunnels
check_fails "the policy: others may not reload" "ccess denied|Rejected" as_user l2wgsdother Reload
check "the policy: a member of group l2wg may reload" as_user l2wgsdmember Reload
systemctl stop l2wgd
check "systemctl enable --now l2wgd" systemctl enable --now l2wgd
check "enabled, with the alias dbus-net.l2wg1.service, and active" bash -c \
  '[ "$(systemctl is-enabled l2wgd)" = enabled ] && [ -L /etc/systemd/system/dbus-net.l2wg1.service ] && systemctl is-active -q l2wgd'
pid=$(main_pid)
check "hardening: CapEff = CAP_NET_ADMIN|CAP_NET_RAW ($(awk '/^CapEff/ { print $2 }' "/proc/$pid/status"))" \
  grep -qx $'CapEff:\t0000000000003000' "/proc/$pid/status"
check "hardening: CapBnd the same" grep -qx $'CapBnd:\t0000000000003000' "/proc/$pid/status"
check "hardening: NoNewPrivs 1" grep -qx $'NoNewPrivs:\t1' "/proc/$pid/status"
check "hardening: a seccomp filter" grep -qx $'Seccomp:\t2' "/proc/$pid/status"
# mount_options PID PATH: the options of the mount l2wgd sees at PATH (the last one there).
mount_options() { awk -v p="$2" '$5 == p { o = $6 } END { print o }' "/proc/$1/mountinfo"; }
export -f mount_options
check "hardening: / read-only for l2wgd ($(mount_options "$pid" /)), /etc/l2wg and /var/lib/l2wg writable" \
  bash -c "[[ \$(mount_options $pid /) == ro* && \$(mount_options $pid /etc/l2wg) == rw* &&
    \$(mount_options $pid /var/lib/l2wg) == rw* ]]"

# Type=notify.
check "Type=notify, and STATUS= says 'no tunnels' ($(prop StatusText))" bash -c \
  "[ \"\$(systemctl show -p Type --value l2wgd)\" = notify ] && [ \"\$(systemctl show -p StatusText --value l2wgd)\" = 'no tunnels' ]"
mkdir -p /etc/systemd/system/l2wgd.service.d
printf '[Service]\nWatchdogSec=4s\n' >/etc/systemd/system/l2wgd.service.d/watchdog.conf
systemctl daemon-reload
systemctl restart l2wgd
pid=$(main_pid)
wd1=$(prop WatchdogTimestampMonotonic)
sleep 6
wd2=$(prop WatchdogTimestampMonotonic)
check "the watchdog is fed (WatchdogSec=4s: WatchdogTimestamp $wd1 -> $wd2 us)" \
  test "${wd2:-0}" -gt "${wd1:-0}" -a "${wd1:-0}" -gt 0
check "and l2wgd was not killed for it (same MainPID, NRestarts $(prop NRestarts))" \
  test "$(main_pid)" = "$pid" -a "$(prop NRestarts)" = 0
rm -r /etc/systemd/system/l2wgd.service.d
systemctl daemon-reload
systemctl restart l2wgd

# The network: two kernel WireGuard pairs between the root namespace (l2wgd) and FAR.
ns_add "$FAR"
ip link add ve-sd type veth peer name ve-sd-far netns "$FAR"
ip addr add 192.0.2.1/24 dev ve-sd
ip -n "$FAR" addr add 192.0.2.2/24 dev ve-sd-far
ip link set ve-sd up
ip -n "$FAR" link set ve-sd-far up
# wg_up NAME_NEAR NAME_FAR PORT NET: one pair, inner addresses NET.1 (here) and NET.2 (FAR).
wg_up() {
  local near=$1 far=$2 port=$3 net=$4 key_n key_f
  key_n=$(wg genkey)
  key_f=$(wg genkey)
  ip link add "$near" type wireguard
  ip -n "$FAR" link add "$far" type wireguard
  wg set "$near" listen-port "$port" private-key <(echo "$key_n") \
    peer "$(wg pubkey <<<"$key_f")" endpoint "192.0.2.2:$port" allowed-ips "$net.2/32"
  ip netns exec "$FAR" wg set "$far" listen-port "$port" private-key <(echo "$key_f") \
    peer "$(wg pubkey <<<"$key_n")" endpoint "192.0.2.1:$port" allowed-ips "$net.1/32"
  ip addr add "$net.1/24" dev "$near"
  ip -n "$FAR" addr add "$net.2/24" dev "$far"
  ip link set "$near" up
  ip -n "$FAR" link set "$far" up
  ping -c 1 -W 2 "$net.2" >/dev/null || true # the first handshake
}
wg_up wgsdu wgsdfu 51820 10.0.31
wg_up wgsdk wgsdfk 51821 10.0.32
bg_in "$FAR" "$WORKDIR/plumb-u.log" "$PLUMB" --wg wgsdfu --peer 10.0.31.1 --interface l2-fu
bg_in "$FAR" "$WORKDIR/plumb-k.log" "$PLUMB" --wg wgsdfk --peer 10.0.32.1 --interface l2-fk
wait_for 20 grep -q '^{' "$WORKDIR/plumb-u.log"
wait_for 20 grep -q '^{' "$WORKDIR/plumb-k.log"
ip -n "$FAR" addr add 10.77.0.2/24 dev l2-fu
ip -n "$FAR" addr add 10.78.0.2/24 dev l2-fk

check "l2wg up: a userspace tunnel" l2wg up us --wg wgsdu --peer 10.0.31.2 --interface l2-us --datapath userspace
ip addr add 10.77.0.1/24 dev l2-us
check "STATUS= follows: '1 tunnel: 1 up' ($(prop StatusText))" wait_for 20 status_is '1 tunnel: 1 up'
check "traffic crosses the userspace tunnel" wait_for 20 ip netns exec "$FAR" ping -c 1 -W 1 10.77.0.1

# systemctl reload: a new file in /etc/l2wg makes a tunnel.
printf '[Tunnel]\nWireGuard=wgsdk\nPeer=10.0.32.2\nInterface=l2-kg\nDatapath=kernel\n' >/etc/l2wg/kg.conf
check "systemctl reload l2wgd" systemctl reload l2wgd
check "the reload re-read /etc/l2wg: tunnel kg" wait_for 10 tunnel_state kg
check "RELOADING=1, then READY=1: the unit is active again, not reloading" bash -c \
  '[ "$(systemctl show -p ActiveState --value l2wgd)" = active ]'
ip addr add 10.78.0.1/24 dev l2-kg
check "kg uses kernel gretap" bash -c "ip -d link show l2-kg | grep -q gretap"
check "STATUS= follows: '2 tunnels: 2 up' ($(prop StatusText))" wait_for 20 status_is '2 tunnels: 2 up'
check "traffic crosses the kernel tunnel" wait_for 20 ip netns exec "$FAR" ping -c 1 -W 1 10.78.0.1

# systemctl stop leaves the data plane.
us_index=$(cat /sys/class/net/l2-us/ifindex)
kg_index=$(cat /sys/class/net/l2-kg/ifindex)
check "systemctl stop l2wgd" systemctl stop l2wgd
check "both taps stay" test -e /sys/class/net/l2-us -a -e /sys/class/net/l2-kg
check "a ping across kernel gretap works with l2wgd stopped" ip netns exec "$FAR" ping -c 3 -i 0.2 -W 1 10.78.0.1
check "systemctl start l2wgd adopts the taps (same ifindex)" bash -c \
  "systemctl start l2wgd && [ \$(cat /sys/class/net/l2-us/ifindex) = $us_index ] && [ \$(cat /sys/class/net/l2-kg/ifindex) = $kg_index ]"
check "both tunnels up again" wait_for 20 status_is '2 tunnels: 2 up'
check "traffic crosses the userspace tunnel again" wait_for 20 ip netns exec "$FAR" ping -c 1 -W 1 10.77.0.1

# The hitless restart. pings_during WHAT CMD...: 800 pings from FAR, 100 a second, across each
# tunnel, with CMD run after one second; prints "SENT RECEIVED MAX_RTT_MS" for the userspace
# tunnel, then for the kernel one (the longest round trip is about the time frames waited).
ping_summary() {
  awk '/packets transmitted/ { sent = $1; received = $4 }
       /^rtt/ { split($4, rtt, "/"); max = rtt[3] }
       END { print sent, received, max }' "$1"
}
pings_during() {
  local what=$1
  shift
  ip netns exec "$FAR" ping -n -c 800 -i 0.01 -W 3 10.77.0.1 >"$WORKDIR/ping-$what-us.log" 2>&1 &
  local pid_us=$!
  ip netns exec "$FAR" ping -n -c 800 -i 0.01 -W 3 10.78.0.1 >"$WORKDIR/ping-$what-kg.log" 2>&1 &
  local pid_kg=$!
  sleep 1
  "$@" >"$WORKDIR/$what.out" 2>&1
  wait "$pid_us" "$pid_kg" || true
  echo "$(ping_summary "$WORKDIR/ping-$what-us.log") $(ping_summary "$WORKDIR/ping-$what-kg.log")"
}
took_fds() {  # took_fds SINCE: l2wgd logged taking the kept fds since the monotonic time SINCE
  journalctl -u l2wgd -o cat --since "@$1" | grep -q 'took .* file descriptor(s) systemd kept'
}

pid=$(main_pid)
since=$(date +%s)
read -r us_sent us_recv us_gap kg_sent kg_recv kg_gap < <(pings_during restart systemctl restart l2wgd)
echo "    systemctl restart: userspace $us_sent sent, $us_recv received, longest round trip $us_gap ms;" \
  "kernel gretap $kg_sent sent, $kg_recv received, longest round trip $kg_gap ms"
check "systemctl restart: a new l2wgd" test "$(main_pid)" != "$pid"
check "which took the TAP and GRE socket back from the fd store" took_fds "$since"
check "restart: the userspace tunnel lost nothing (${us_sent:-?} sent, ${us_recv:-?} received)" \
  test "${us_recv:-0}" = "${us_sent:-x}"
check "restart: the kernel tunnel lost nothing (${kg_sent:-?} sent, ${kg_recv:-?} received)" \
  test "${kg_recv:-0}" = "${kg_sent:-x}"
check "both tunnels up after the restart" wait_for 20 status_is '2 tunnels: 2 up'

pid=$(main_pid)
sleep 1
since=$(date +%s)
read -r us_sent us_recv us_gap kg_sent kg_recv kg_gap < \
  <(pings_during crash systemctl kill -s KILL l2wgd)
echo "    systemctl kill -s KILL: userspace $us_sent sent, $us_recv received, longest round trip $us_gap ms;" \
  "kernel gretap $kg_sent sent, $kg_recv received, longest round trip $kg_gap ms"
check "a crash: Restart=on-failure started a new l2wgd (NRestarts $(prop NRestarts))" bash -c \
  "[ \"\$(systemctl show -p MainPID --value l2wgd)\" != $pid ] && [ \"\$(systemctl show -p NRestarts --value l2wgd)\" -ge 1 ]"
check "which took the kept fds back" took_fds "$since"
check "crash: the userspace tunnel lost at most 5 (${us_sent:-?} sent, ${us_recv:-?} received)" \
  test "$((${us_sent:-0} - ${us_recv:-0}))" -le 5 -a "${us_sent:-0}" -gt 0
check "crash: the kernel tunnel lost nothing (${kg_sent:-?} sent, ${kg_recv:-?} received)" \
  test "${kg_recv:-0}" = "${kg_sent:-x}"
check "both tunnels up after the crash" wait_for 20 status_is '2 tunnels: 2 up'

# The journal. Last: the tunnel name as a field needs the journald sink (being added on main).
check "journalctl -u l2wgd has the daemon's log (tunnel us's messages)" bash -c \
  "journalctl -u l2wgd -o cat | grep -qE '(^|\\] )us: '"
journalctl -u l2wgd -o json >"$WORKDIR/journal.json"
tunnel_field() {
  grep -q '"L2WG_TUNNEL":"us"' "$WORKDIR/journal.json" && return 0
  echo "no L2WG_TUNNEL=us; a record of tunnel us and l2wgd's JOURNAL_STREAM:"
  grep -m1 '"MESSAGE":"[^"]*us: ' "$WORKDIR/journal.json" | cut -c1-600
  tr '\0' '\n' <"/proc/$(systemctl show -p MainPID --value l2wgd)/environ" | grep JOURNAL || echo "(none)"
  return 1
}
check "journalctl -u l2wgd -o json: the tunnel's messages carry L2WG_TUNNEL=us" tunnel_field
finish
