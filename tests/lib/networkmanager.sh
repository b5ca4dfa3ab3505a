# shellcheck shell=bash
# A real NetworkManager (Debian's network-manager) in a test's network namespace, with its own
# mount and UTS namespaces and the test's private system bus: it never sees or touches the host's
# NetworkManager state, /etc or /etc/resolv.conf (/work/shared/notes/networkmanager-in-a-namespace.md
# is the measured recipe). Source it after tests/lib/netns.sh.
#
# Inside NetworkManager's mount namespace:
#   /run          a tmpfs; /run/dbus/system_bus_socket is the test's bus socket, bound there, since
#                 dispatcher scripts reach the bus at the default path only
#   /etc          an overlay over the host's (writes stay in the namespace), with a tmpfs on
#                 /etc/NetworkManager holding NM_CONF and /etc/l2wg holding what nm_etc_file wrote
#   /usr/lib/NetworkManager/conf.d, dispatcher.d
#                 what the package installs there (the build's cmake --install, staged)
#   /dev          an overlay over the host's, whose /dev/log is a syslog socket of the test's:
#                 what is sent there goes to $WORKDIR/syslog.log
#   /var/lib/NetworkManager a tmpfs; /etc/resolv.conf an empty file; /sys read-only (else NM
#                 waits for udev, which is not there, and manages no device)
# nm-dispatcher runs by hand (--persist; bus activation does not reach a private bus), then
# NetworkManager --no-daemon. Logs: $WORKDIR/networkmanager.log, $WORKDIR/nm-dispatcher.log
# (dispatcher scripts' stderr lands there).
#
# Functions:
#   nm_bus_config SOCKET FILE: a private system bus config with NetworkManager's policy too
#   nm_etc_file PATH CONTENT: a file of the namespace's /etc (before nm_start, or while it runs)
#   nm_start NS BUS_SOCKET: starts nm-dispatcher and NetworkManager in NS; sets NM_PID,
#     NM_DISPATCHER_PID, NM_SYSLOG_PID (the /dev/log listener)
#   nm_exec CMD...: CMD in NetworkManager's namespaces (nmcli, …)
#   nm_stop: both stopped (by PID)

NM_DAEMON=${NM_DAEMON:-/usr/sbin/NetworkManager}
NM_DISPATCHER=${NM_DISPATCHER:-/usr/lib/NetworkManager/nm-dispatcher}
NM_PID= NM_DISPATCHER_PID= NM_SYSLOG_PID=
NM_DIR=$WORKDIR/nm

# nm_bus_config SOCKET FILE: tests/lib/system-bus.conf.in for SOCKET with l2wg's policy and the
# system bus's policy directory (NetworkManager's and nm-dispatcher's policies are there).
nm_bus_config() {
  sed -e "s|@SOCKET@|$1|" -e "s|@POLICY@|$L2WG_SOURCE_DIR/dbus/net.l2wg1.conf|" \
    -e 's|</busconfig>|  <includedir>/usr/share/dbus-1/system.d</includedir>\n</busconfig>|' \
    "$L2WG_SOURCE_DIR/tests/lib/system-bus.conf.in" >"$2"
}

# nm_etc_file PATH CONTENT: PATH (absolute, under /etc) has CONTENT in NetworkManager's
# namespace: written into the seed before nm_start, into the running namespace after.
nm_etc_file() {
  local path=$1 content=$2
  case $path in /etc/*) ;; *) echo "nm_etc_file: $path is not under /etc" >&2; return 2 ;; esac
  if [ -n "$NM_PID" ]; then
    printf '%s' "$content" | nm_exec sh -c 'mkdir -p "$(dirname "$1")" && cat >"$1"' _ "$path"
  else
    mkdir -p "$NM_DIR/seed$(dirname "$path")"
    printf '%s' "$content" >"$NM_DIR/seed$path"
  fi
}

_nm_inner_script() {
  cat >"$NM_DIR/inner.sh" <<'INNER'
#!/bin/bash
# Runs in the new mount and UTS namespaces (unshare), inside the test's network namespace.
set -euo pipefail
dir=$1 bus_socket=$2 dispatcher=$3 daemon=$4
mount --make-rprivate /
mount -t tmpfs -o mode=0755 l2wg-nm-run /run
mkdir -p /run/dbus /run/l2wg-nm/etc-upper /run/l2wg-nm/etc-work
: >/run/dbus/system_bus_socket
mount --bind "$bus_socket" /run/dbus/system_bus_socket
# /dev/log: a syslog socket of the test's (an overlay over /dev), so that what scripts send to
# syslog (logger) lands in $WORKDIR/syslog.log.
mkdir -p /run/l2wg-nm/dev-upper /run/l2wg-nm/dev-work
mount -t overlay l2wg-nm-dev -o lowerdir=/dev,upperdir=/run/l2wg-nm/dev-upper,workdir=/run/l2wg-nm/dev-work /dev
mount -t tmpfs -o mode=1777 l2wg-nm-shm /dev/shm
rm -f /dev/log
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
with open(sys.argv[1], "a") as log:
    while True:
        log.write(s.recv(65536).decode(errors="replace").rstrip("\n") + "\n")
        log.flush()' "$dir/../syslog.log" &
echo $! >"$dir/syslog.pid"
for _ in $(seq 100); do [ -S /dev/log ] && break; sleep 0.1; done
[ -S /dev/log ] || { echo "no /dev/log"; exit 1; }
mount -t overlay l2wg-nm-etc -o lowerdir=/etc,upperdir=/run/l2wg-nm/etc-upper,workdir=/run/l2wg-nm/etc-work /etc
mount -t tmpfs -o mode=0755 l2wg-nm-etc-nm /etc/NetworkManager
mkdir -p /etc/l2wg
mount -t tmpfs -o mode=0755 l2wg-nm-etc-l2wg /etc/l2wg
cp -a "$dir/seed/etc/." /etc/
: >/run/l2wg-nm/resolv.conf
mount --bind /run/l2wg-nm/resolv.conf /etc/resolv.conf
mount -t tmpfs -o mode=0755 l2wg-nm-var /var/lib/NetworkManager
mount --bind "$dir/usr-lib/conf.d" /usr/lib/NetworkManager/conf.d
mount --bind "$dir/usr-lib/dispatcher.d" /usr/lib/NetworkManager/dispatcher.d
hostname l2wg-nm-test
mount -o remount,bind,ro /sys
"$dispatcher" --persist --debug >"$dir/../nm-dispatcher.log" 2>&1 &
echo $! >"$dir/dispatcher.pid"
exec "$daemon" --no-daemon
INNER
  chmod 0755 "$NM_DIR/inner.sh"
}

_nm_on_bus() {  # _nm_on_bus NAME: NAME has an owner on NetworkManager's bus
  [ "$(nm_exec busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
    NameHasOwner s "$1" 2>/dev/null)" = "b true" ]
}

# nm_start NS BUS_SOCKET: NetworkManager and nm-dispatcher in NS on the bus at BUS_SOCKET (one of
# nm_bus_config's), with $NM_DIR/seed/etc over the namespace's /etc (NM_CONF below unless the
# caller wrote its own NetworkManager.conf) and the package's files from examples/networkmanager.
nm_start() {
  local ns=$1 bus_socket=$2
  mkdir -p "$NM_DIR/seed/etc/NetworkManager/system-connections" "$NM_DIR/seed/etc/l2wg" \
    "$NM_DIR/usr-lib/conf.d" "$NM_DIR/usr-lib/dispatcher.d/pre-down.d" \
    "$NM_DIR/usr-lib/dispatcher.d/pre-up.d" "$NM_DIR/usr-lib/dispatcher.d/no-wait.d"
  [ -f "$NM_DIR/seed/etc/NetworkManager/NetworkManager.conf" ] ||
    cat >"$NM_DIR/seed/etc/NetworkManager/NetworkManager.conf" <<'CONF'
[main]
plugins=keyfile
dns=none
rc-manager=unmanaged
systemd-resolved=false
no-auto-default=*
hostname-mode=none

[connectivity]
enabled=false

[logging]
level=INFO
CONF
  # What the package installs there: the build's own `cmake --install` (examples/CMakeLists.txt),
  # staged with the package's prefix.
  DESTDIR=$NM_DIR/stage cmake --install "$L2WG_BUILD_DIR" --prefix /usr >"$WORKDIR/nm-install.log" 2>&1 ||
    { echo "cmake --install failed"; tail -5 "$WORKDIR/nm-install.log"; return 1; }
  cp -a "$NM_DIR/stage/usr/lib/NetworkManager/conf.d/." "$NM_DIR/usr-lib/conf.d/"
  cp -a "$NM_DIR/stage/usr/lib/NetworkManager/dispatcher.d/." "$NM_DIR/usr-lib/dispatcher.d/"
  if ! [ -x "$NM_DIR/usr-lib/dispatcher.d/90-l2wg" ] ||
    ! [ -L "$NM_DIR/usr-lib/dispatcher.d/pre-down.d/90-l2wg" ] ||
    ! [ -f "$NM_DIR/usr-lib/conf.d/90-l2wg.conf" ]; then
    echo "cmake --install did not put the NetworkManager files in /usr/lib/NetworkManager"
    return 1
  fi
  # nm-dispatcher runs only scripts owned by root and writable by nobody else, directories too.
  chmod 0755 "$NM_DIR" "$NM_DIR/usr-lib" "$NM_DIR/usr-lib/dispatcher.d"
  _nm_inner_script
  bg_in "$ns" "$WORKDIR/networkmanager.log" unshare --mount --uts --propagation private \
    "$NM_DIR/inner.sh" "$NM_DIR" "$bus_socket" "$NM_DISPATCHER" "$NM_DAEMON"
  NM_PID=$BG_PID
  wait_for 10 test -s "$NM_DIR/dispatcher.pid" ||
    { echo "nm-dispatcher did not start"; cat "$WORKDIR/networkmanager.log"; return 1; }
  NM_DISPATCHER_PID=$(cat "$NM_DIR/dispatcher.pid")
  register_pid "$NM_DISPATCHER_PID"
  NM_SYSLOG_PID=$(cat "$NM_DIR/syslog.pid")
  register_pid "$NM_SYSLOG_PID"
  wait_for 20 _nm_on_bus org.freedesktop.NetworkManager ||
    { echo "NetworkManager did not take its bus name"; tail -30 "$WORKDIR/networkmanager.log"; return 1; }
  wait_for 20 nm_exec nm-online -s -q -t 1 ||
    { echo "NetworkManager did not finish starting"; tail -30 "$WORKDIR/networkmanager.log"; return 1; }
}

# nm_exec CMD...: CMD in NetworkManager's network, mount and UTS namespaces.
nm_exec() {
  nsenter -t "$NM_PID" -n -m -u -- "$@"
}

# nm_stop: NetworkManager, then nm-dispatcher (by PID); NM leaves the links as they are.
nm_stop() {
  [ -z "$NM_PID" ] || stop_pid "$NM_PID"
  [ -z "$NM_DISPATCHER_PID" ] || stop_pid "$NM_DISPATCHER_PID"
  [ -z "$NM_SYSLOG_PID" ] || stop_pid "$NM_SYSLOG_PID"
  NM_PID= NM_DISPATCHER_PID= NM_SYSLOG_PID=
}
