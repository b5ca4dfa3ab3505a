#!/usr/bin/env bash
# completion/l2wg.bash, driven as bash drives it (COMP_WORDS, COMP_CWORD, then COMPREPLY):
# subcommands; each subcommand's flags equal to what the built l2wg's `SUB --help` lists, so
# the two cannot drift; --wg, --bridge and --lan against a fake /sys/class/net (a kernel
# WireGuard interface, a wireguard-go tun with its socket, a plain tun, a bridge, a dummy); tunnel
# names from a fake busctl on PATH, and nothing, silently, when the daemon does not answer.
# Unit tier: no privileges. L2WG_BUILD_DIR and L2WG_SOURCE_DIR as the other tests get them.
set -uo pipefail

source_dir=${L2WG_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build_dir=${L2WG_BUILD_DIR:?L2WG_BUILD_DIR is not set}
l2wg=$build_dir/cli/l2wg
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# shellcheck source=fake_host.sh
source "$source_dir/tests/docs/fake_host.sh"
fake_host "$work"

# shellcheck source=../../completion/l2wg.bash
source "$source_dir/completion/l2wg.bash"
if [ "$(complete -p l2wg 2>/dev/null)" != "complete -F _l2wg l2wg" ]; then
  fail "the script does not register _l2wg for l2wg: $(complete -p l2wg 2>&1)"
fi

# complete WORDS...: COMPREPLY for the command line "WORDS" with the cursor on the last word,
# sorted, one per line.
complete_line() {
  COMP_WORDS=("$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMP_LINE="$*"
  COMP_POINT=${#COMP_LINE}
  COMPREPLY=()
  _l2wg l2wg "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]:-}"
  printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort
}
# expect "DESCRIPTION" "EXPECTED (space-separated)" WORDS...
expect() {
  local what=$1 expected got
  expected=$(tr ' ' '\n' <<<"$2" | sed '/^$/d' | sort)
  shift 2
  got=$(complete_line "$@")
  if [ "$got" != "$expected" ]; then
    fail "$what: l2wg ${*:2}: expected [$(echo $expected)], got [$(echo $got)]"
  else
    echo "ok: $what"
  fi
}

# The real CLI's subcommands and each one's flags, from the built binary.
help_flags() {  # help_flags [SUB]: the options CLI11 lists
  "$l2wg" "$@" --help | awk '/^Options:/ {o = 1; next} /^[A-Z][a-z]+:/ {o = 0} o' |
    grep -oE '^  (-h,)?--[a-z][a-z0-9-]*' | sed 's/^  //; s/,/ /' | tr ' ' '\n' | sort
}
subcommands=$("$l2wg" --help | awk '/^Subcommands:/ {s = 1; next} /^$/ {s = 0} s {print $1}')
[ "$(wc -w <<<"$subcommands")" -ge 10 ] || fail "l2wg --help lists too few subcommands: $subcommands"

expect "subcommands" "$(echo $subcommands)" l2wg ""
expect "subcommands by prefix" "registry release reload renew restart" l2wg re
expect "top-level flags" "$(echo $(help_flags))" l2wg -

for sub in $subcommands; do
  expect "flags of $sub" "$(echo $(help_flags "$sub"))" l2wg "$sub" -
done

# Values of up's flags.
expect "--wg: kernel WireGuard and wireguard-go" "wg0 wg-go" l2wg up lab --wg ""
expect "--wg by prefix" "wg-go" l2wg up lab --wg wg-
expect "--wg=" "wg0 wg-go" l2wg up lab --wg = ""
expect "--bridge: bridges" "br-lan br-wan" l2wg up lab --wg wg0 --peer 10.0.31.10 --bridge ""
expect "--lan: any interface" "br-lan br-wan dummy0 eth0 lo tun9 wg-go wg0" \
  l2wg up dorm --wg wg0 --pd --lan ""
expect "--interface: any interface" "dummy0" l2wg up lab --interface d
expect "--datapath" "auto kernel userspace" l2wg up lab --datapath ""
expect "--mtu" "auto" l2wg up lab --mtu ""
expect "--peer: nothing to offer" "" l2wg up lab --wg wg0 --peer ""
expect "flags after up's NAME and values" "--pd --peer --persist --prefix-length" \
  l2wg up lab --wg wg0 --p

# Tunnel names from the daemon.
expect "tunnel names" "dorm lab lab-2" l2wg show ""
expect "tunnel names by prefix" "lab lab-2" l2wg down la
expect "tunnel names for up (start)" "dorm lab lab-2" l2wg up ""
for sub in delete renew release restart doctor; do
  expect "tunnel names for $sub" "dorm lab lab-2" l2wg "$sub" ""
done
expect "no second NAME" "--help --json -h" l2wg show lab ""
grep -q -- '--auto-start=no' "$FAKE_BUSCTL_LOG" || fail "busctl was not called with --auto-start=no"

# The daemon down: no names, no output on the terminal, and the completion still succeeds.
out=$(FAKE_DAEMON=down complete_line l2wg show "" 2>&1)
[ -z "$out" ] || fail "with l2wgd down: expected nothing, got [$out]"
out=$( (FAKE_DAEMON=down; COMP_WORDS=(l2wg show ""); COMP_CWORD=2; _l2wg) 2>&1)
[ -z "$out" ] || fail "with l2wgd down the completion printed: $out"
echo "ok: nothing, quietly, when l2wgd does not answer"

# Without busctl: l2wg list --json (a fake l2wg), on a PATH of only the tools the script uses.
mkdir -p "$work/bin2"
for tool in sed timeout grep sort tr; do ln -s "$(command -v "$tool")" "$work/bin2/$tool"; done
cat >"$work/bin2/l2wg" <<'EOF'
#!/bin/sh
[ "$*" = "list --json" ] || exit 2
printf '[\n  {\n    "Name": "alpha",\n    "State": "up"\n  },\n  {\n    "Name": "beta_1"\n  }\n]\n'
EOF
chmod +x "$work/bin2/l2wg"
saved_path=$PATH
PATH=$work/bin2
hash -r
expect "tunnel names from l2wg list --json" "alpha beta_1" l2wg restart ""
PATH=$saved_path
hash -r

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "all bash completion checks passed"
