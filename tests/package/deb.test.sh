#!/usr/bin/env bash
# The Debian package, as a user gets it:
# - dpkg-buildpackage -b from a copy of the tracked files (what a clean clone holds; nothing is
#   written into the source tree), without the unit tests (nocheck) and without a dbgsym package;
# - its contents: every file `cmake --install` of the same build puts in place (with the prefix
#   /usr, into a staging dir) is in the .deb (man pages and docs compressed by dh_compress), and
#   nothing else but /usr/share/doc/l2wg; the system service's files where systemd and the bus
#   read them (systemd.pc, dbus-1.pc), nothing under /usr/local; the fields;
# - lintian: no error (E:); its warnings are printed;
# - dpkg -i and dpkg --purge into a throwaway root (dpkg --root with maintainer scripts run
#   outside a chroot, DPKG_ROOT set, and a policy-rc.d that lets no service start): group l2wg
#   created, the unit enabled, and after the purge the root as it was before, but for the group,
#   which stays (Debian leaves system groups); /var/lib/l2wg removed, /etc/l2wg removed when
#   empty and kept with an administrator's file in it.
# Takes 5.5 minutes on the 2-core CI machine (11 with other builds running), almost all of it
# the package's C++ build (the product only, with dpkg-buildflags' flags: no build to reuse).
source "$(dirname "$0")/../lib/netns.sh"
l2wg_test_init
need git dpkg-buildpackage dpkg-deb dpkg lintian cmake pkg-config systemd-sysusers
src=${L2WG_SOURCE_DIR:?L2WG_SOURCE_DIR must point at the source tree}

# The package's build tree is large: under /var/tmp, removed at exit with the test's own things.
PKG=$(mktemp -d /var/tmp/l2wg-deb.XXXXXX)
trap 's=$?; if [ "${KEEP:-0}" = 1 ]; then echo "kept $PKG" >&2; else rm -rf "$PKG"; fi
  (exit $s); _l2wg_cleanup' EXIT

# --- The build, from the tracked files ---------------------------------------------------------
git -C "$src" rev-parse --git-dir >/dev/null 2>&1 || { echo "FAIL: $src is not a git checkout"; exit 1; }
git -C "$src" status --porcelain >"$WORKDIR/git-status.before"
if [ -n "${L2WG_DEB_REUSE:-}" ]; then
  # By hand only: L2WG_DEB_REUSE=DIR takes DIR/l2wg_*.deb and its build tree DIR/l2wg (a
  # previous run's, kept with KEEP=1) instead of building, to work on the checks below.
  PKG_SRC=$L2WG_DEB_REUSE
  echo "    reusing the package built in $PKG_SRC"
else
  PKG_SRC=$PKG/src
  mkdir -p "$PKG_SRC/l2wg"
  # The working tree's content of each tracked file (uncommitted edits included, deleted ones not).
  git -C "$src" ls-files -z | while IFS= read -r -d '' f; do
    [ -e "$src/$f" ] && printf '%s\0' "$f"
  done | tar -C "$src" --null -T - -cf - | tar -C "$PKG_SRC/l2wg" -xf -
  started=$(date +%s)
  check "dpkg-buildpackage -b builds the package (log: build.log)" \
    env -C "$PKG_SRC/l2wg" DEB_BUILD_OPTIONS="nocheck noddebs parallel=$(nproc)" \
    nice -n 10 dpkg-buildpackage -b -us -uc
  cp "$WORKDIR/check.out" "$WORKDIR/build.log"
  echo "    the package build took $(($(date +%s) - started)) s"
fi
debs=("$PKG_SRC"/l2wg_*.deb)
[ -f "${debs[0]}" ] || { echo "FAIL - no l2wg_*.deb was built"; tail -40 "$WORKDIR/build.log"; exit 1; }
DEB=${debs[0]}
check "one package, l2wg (no l2wg-dbgsym with noddebs)" test "$(ls "$PKG_SRC"/*.deb | wc -l)" = 1

# --- Contents --------------------------------------------------------------------------------
field() { dpkg-deb -f "$DEB" "$1"; }
version=$(sed -nE 's/^project\(l2wg VERSION ([0-9.]+).*/\1/p' "$src/CMakeLists.txt")
check "the package's version is the project's ($version)" test "$(field Version)" = "$version"
check "Architecture is the build machine's" test "$(field Architecture)" = "$(dpkg --print-architecture)"
check "Depends names what the binaries link and sysusers" \
  bash -c 'grep -q "libnl-3-200" <<<"$1" && grep -q "systemd | systemd-standalone-sysusers" <<<"$1"' _ "$(field Depends)"

# Paths as "./usr/bin/l2wg" → "/usr/bin/l2wg", a compressed man page or doc without its .gz.
normalise() { sed -E 's|^\./|/|; s|/$||; s@^(/usr/share/(man|doc)/.*)\.gz$@\1@' | sort -u; }
dpkg-deb -c "$DEB" | awk '$1 !~ /^d/ { p = $6; sub(/ -> .*/, "", p); print p }' | normalise >"$WORKDIR/deb.files"
stage=$PKG/stage
DESTDIR=$stage cmake --install "$PKG_SRC"/l2wg/obj-* >"$WORKDIR/stage-install.log" 2>&1
(cd "$stage" && find . ! -type d) | normalise >"$WORKDIR/stage.files"
comm -23 "$WORKDIR/stage.files" "$WORKDIR/deb.files" >"$WORKDIR/deb.missing"
comm -13 "$WORKDIR/stage.files" "$WORKDIR/deb.files" | grep -v '^/usr/share/doc/l2wg/' >"$WORKDIR/deb.extra" || true
empty() { [ ! -s "$1" ] || { cat "$1"; false; }; }
check "the package holds every file cmake --install puts in place" empty "$WORKDIR/deb.missing"
check "and nothing else but /usr/share/doc/l2wg" empty "$WORKDIR/deb.extra"
check "nothing under /usr/local" bash -c "! grep '^/usr/local' '$WORKDIR/deb.files'"

unitdir=$(pkg-config --variable=systemdsystemunitdir systemd)
sysusersdir=$(pkg-config --variable=sysusersdir systemd)
busdir=$(pkg-config --variable=datadir dbus-1)/dbus-1
activationdir=$(pkg-config --variable=system_bus_services_dir dbus-1)
has() { grep -qxF "$1" "$WORKDIR/deb.files"; }
check "l2wgd in /usr/sbin" has /usr/sbin/l2wgd
check "l2wg in /usr/bin" has /usr/bin/l2wg
check "the unit in $unitdir" has "$unitdir/l2wgd.service"
check "the bus policy in $busdir/system.d" has "$busdir/system.d/net.l2wg1.conf"
check "the activation file in $activationdir" has "$activationdir/net.l2wg1.service"
check "the sysusers entry in $sysusersdir" has "$sysusersdir/l2wg.conf"
check "the copyright file" has /usr/share/doc/l2wg/copyright
# Made by other parts of the build when they exist; the comparison with the staging dir above is
# what fails when the package misses one of them.
for kind in "man pages|^/usr/share/man/" "bash completion|^/usr/share/bash-completion/" \
  "zsh completion|^/usr/share/zsh/" "example configs|^/usr/share/doc/l2wg/examples/"; do
  found=$( (grep -E "${kind#*|}" "$WORKDIR/stage.files" || true) | xargs -r -n1 basename | tr "\n" " ")
  echo "    ${kind%%|*} installed by cmake: ${found:-none yet}"
done
dpkg-deb -x "$DEB" "$PKG/deb"
check "the unit starts /usr/sbin/l2wgd and names the man pages" bash -c \
  "grep -qx 'ExecStart=/usr/sbin/l2wgd' '$PKG/deb$unitdir/l2wgd.service' &&
   grep -qx 'Documentation=man:l2wgd(8) man:l2wg(8) man:l2wg.conf(5) man:l2wg-dbus(7)' '$PKG/deb$unitdir/l2wgd.service'"
check "the copyright file is machine-readable and MIT (Expat)" bash -c \
  "grep -q '^Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' '$PKG/deb/usr/share/doc/l2wg/copyright' &&
   grep -qx 'License: Expat' '$PKG/deb/usr/share/doc/l2wg/copyright'"
check "the maintainer scripts create the group and enable the unit" bash -c \
  "dpkg-deb -I '$DEB' postinst | grep -q 'systemd-sysusers .*l2wg.conf' &&
   dpkg-deb -I '$DEB' postinst | grep -q 'deb-systemd-helper enable .l2wgd.service'"
echo "--- dpkg-deb -c (files)"
sed 's/^/    /' "$WORKDIR/deb.files"

# --- lintian ---------------------------------------------------------------------------------
lintian --info "$DEB" >"$WORKDIR/lintian.log" 2>&1 || true
echo "--- lintian: $(grep -c '^E:' "$WORKDIR/lintian.log") errors, $(grep -c '^W:' "$WORKDIR/lintian.log") warnings"
grep -E '^[EW]:' "$WORKDIR/lintian.log" | sed 's/^/    /' || true
check "lintian reports no error" bash -c "! grep '^E:' '$WORKDIR/lintian.log'"

# --- Install and purge in a throwaway root -----------------------------------------------------
ROOT=$PKG/root
mkdir -p "$ROOT"/var/lib/dpkg/{info,updates,triggers} "$ROOT"/var/log "$ROOT"/usr/sbin \
  "$ROOT"/etc/systemd/system "$ROOT"/var/lib/systemd
: >"$ROOT/var/lib/dpkg/status"
# What any Debian system has: root in the user and group files (and their backups), the lock
# of those files.
: >"$ROOT/etc/.pwd.lock"
chmod 0600 "$ROOT/etc/.pwd.lock"
printf 'root:x:0:0:root:/root:/bin/bash\n' | tee "$ROOT/etc/passwd" >"$ROOT/etc/passwd-"
printf 'root:*:19000:0:99999:7:::\n' | tee "$ROOT/etc/shadow" >"$ROOT/etc/shadow-"
printf 'root:x:0:\n' | tee "$ROOT/etc/group" >"$ROOT/etc/group-"
printf 'root:*::\n' | tee "$ROOT/etc/gshadow" >"$ROOT/etc/gshadow-"
chmod 0640 "$ROOT"/etc/shadow* "$ROOT"/etc/gshadow*
# No service starts from this root (deb-systemd-invoke asks this, as in any chroot).
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod 0755 "$ROOT/usr/sbin/policy-rc.d"
in_root() {
  dpkg --root="$ROOT" --log="$WORKDIR/dpkg-root.log" --force-script-chrootless --force-depends "$@"
}
# The root, for before/after: every path with its type and mode, and every file's content but the
# group files' (checked on their own).
snapshot_root() {
  (cd "$ROOT" && find . -path ./var/lib/dpkg -prune -o -printf '%y %m %p\n' | sort)
  (cd "$ROOT" && find . -path ./var/lib/dpkg -prune -o -type f ! -name 'group*' ! -name 'gshadow*' \
    -print0 | sort -z | xargs -0 sha256sum)
  (cd "$ROOT" && find . -path ./var/lib/dpkg -prune -o -type l -printf '%p -> %l\n' | sort)
}
snapshot_root >"$WORKDIR/root.before"
cp "$ROOT/etc/group" "$WORKDIR/group.before"
cp "$ROOT/etc/gshadow" "$WORKDIR/gshadow.before"

check "dpkg -i installs into the throwaway root (log: dpkg-i.log)" in_root -i "$DEB"
cp "$WORKDIR/check.out" "$WORKDIR/dpkg-i.log"
check "the package is installed" bash -c "dpkg --root='$ROOT' -s l2wg | grep -qx 'Status: install ok installed'"
check "group l2wg is a system group" bash -c \
  "gid=\$(awk -F: '\$1 == \"l2wg\" { print \$3 }' '$ROOT/etc/group'); [ -n \"\$gid\" ] && [ \"\$gid\" -lt 1000 ]"
check "l2wgd.service is enabled (multi-user.target.wants)" \
  test -L "$ROOT/etc/systemd/system/multi-user.target.wants/l2wgd.service"
check "its alias dbus-net.l2wg1.service exists" \
  test -L "$ROOT/etc/systemd/system/dbus-net.l2wg1.service"
check "the installed l2wgd runs and is version $version" bash -c \
  "'$ROOT/usr/sbin/l2wgd' --version | grep -qx '$version'"
check "the installed l2wg runs and is version $version" bash -c \
  "'$ROOT/usr/bin/l2wg' --version | grep -q '$version'"
for page in "8 l2wg" "8 l2wgd" "5 l2wg.conf" "7 l2wg-dbus"; do
  check "man $page works from the installed (compressed) pages" bash -c \
    "MANPAGER=cat man -M '$ROOT/usr/share/man' $page 2>&1 | grep -q '^NAME'"
done
# What l2wgd.service would leave: its state (StateDirectory) and its config dir, empty
# (ConfigurationDirectory).
mkdir -p "$ROOT/var/lib/l2wg/routed" "$ROOT/etc/l2wg"
echo state >"$ROOT/var/lib/l2wg/routed/lab.json"
check "dpkg --purge removes it (log: dpkg-purge.log)" in_root --purge l2wg
cp "$WORKDIR/check.out" "$WORKDIR/dpkg-purge.log"
check "the package is gone" bash -c "! dpkg --root='$ROOT' -s l2wg 2>/dev/null | grep -q '^Status: install'"
snapshot_root >"$WORKDIR/root.after"
check "the root is as it was before (but group l2wg)" diff -u "$WORKDIR/root.before" "$WORKDIR/root.after"
without_l2wg() { grep -v '^l2wg:' "$1" | diff -u "$2" -; }
check "the group file gained group l2wg only" without_l2wg "$ROOT/etc/group" "$WORKDIR/group.before"
check "the gshadow file gained group l2wg only" without_l2wg "$ROOT/etc/gshadow" "$WORKDIR/gshadow.before"

# An administrator's tunnel file is theirs: a purge keeps it (and so /etc/l2wg).
check "dpkg -i again" in_root -i "$DEB"
mkdir -p "$ROOT/etc/l2wg"
echo '[Tunnel]' >"$ROOT/etc/l2wg/lab.conf"
check "dpkg --purge again" in_root --purge l2wg
check "a purge keeps the administrator's /etc/l2wg/lab.conf" test -f "$ROOT/etc/l2wg/lab.conf"

git -C "$src" status --porcelain >"$WORKDIR/git-status.after"
check "the source tree has no file more or less than before (git status)" \
  diff -u "$WORKDIR/git-status.before" "$WORKDIR/git-status.after"

finish
