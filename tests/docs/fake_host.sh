# Sourced by the completion tests: fake_host DIR makes a fake host under DIR for
# completion/l2wg.bash and completion/_l2wg, and points them and PATH at it:
# - DIR/sys/class/net (L2WG_COMPLETION_SYSFS): lo, eth0, dummy0, wg0 (kernel WireGuard: DEVTYPE
#   in uevent), wg-go (a wireguard-go tun, known by DIR/run-wireguard/wg-go.sock,
#   L2WG_COMPLETION_WG_RUN), tun9 (a tun without a socket: not WireGuard), br-wan and br-lan
#   (bridges);
# - DIR/bin/busctl (first on PATH): l2wgd answering ListTunnels with lab, dorm and lab-2, or
#   failing as with no daemon when FAKE_DAEMON=down; each call logged in FAKE_BUSCTL_LOG.

_fake_link() {  # _fake_link SYSFS NAME DEVTYPE|-
  mkdir -p "$1/class/net/$2"
  printf 'INTERFACE=%s\nIFINDEX=7\n' "$2" >"$1/class/net/$2/uevent"
  [ "$3" = - ] || echo "DEVTYPE=$3" >>"$1/class/net/$2/uevent"
}

fake_host() {
  local work=$1
  local sysfs=$work/sys run=$work/run-wireguard
  mkdir -p "$sysfs/class/net" "$run"
  _fake_link "$sysfs" lo -
  _fake_link "$sysfs" eth0 -
  _fake_link "$sysfs" wg0 wireguard
  _fake_link "$sysfs" wg-go -         # wireguard-go: a tun device, known by its UAPI socket
  _fake_link "$sysfs" tun9 -          # a tun without a socket: not WireGuard
  _fake_link "$sysfs" br-wan bridge
  mkdir -p "$sysfs/class/net/br-wan/bridge"
  _fake_link "$sysfs" br-lan bridge
  mkdir -p "$sysfs/class/net/br-lan/bridge"
  _fake_link "$sysfs" dummy0 -
  python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' \
    "$run/wg-go.sock"
  export L2WG_COMPLETION_SYSFS=$sysfs L2WG_COMPLETION_WG_RUN=$run

  # A fake busctl: l2wgd's ListTunnels answer, or a failure when FAKE_DAEMON=down.
  mkdir -p "$work/bin"
  cat >"$work/bin/busctl" <<'EOF'
#!/bin/sh
echo "$*" >>"$FAKE_BUSCTL_LOG"
if [ "${FAKE_DAEMON:-up}" = down ]; then
  echo "Call failed: The name net.l2wg1 was not provided by any .service files" >&2
  exit 1
fi
case "$*" in
  *"--auto-start=no"*"call net.l2wg1 /net/l2wg1 net.l2wg1.Manager ListTunnels"*)
    echo 'a(so) 3 "lab" "/net/l2wg1/tunnel/lab" "dorm" "/net/l2wg1/tunnel/dorm" "lab-2" "/net/l2wg1/tunnel/lab_2d2"' ;;
  *) echo "unexpected busctl call: $*" >&2; exit 1 ;;
esac
EOF
  chmod +x "$work/bin/busctl"
  export FAKE_BUSCTL_LOG=$work/busctl.log
  PATH=$work/bin:$PATH
}
