#!/usr/bin/env bash
# completion/_l2wg: zsh loads it (compinit, and sourced) without a word on stderr and defines
# _l2wg for l2wg; then it is driven in an interactive zsh on a pseudo-terminal
# (tests/docs/zsh_drive.zsh) against the fake host of fake_host.sh: subcommands, every flag the
# built l2wg's `up --help` lists, --wg, --bridge, --datapath values and tunnel names.
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
command -v zsh >/dev/null || { echo "FAIL: zsh is not installed (scripts/deps.sh installs it)"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/fpath" "$work/home"
cp "$source_dir/completion/_l2wg" "$work/fpath/"
export HOME=$work/home ZDOTDIR=$work/home
# shellcheck source=fake_host.sh
source "$source_dir/tests/docs/fake_host.sh"
fake_host "$work"

# Loads: through fpath and compinit, and sourced after compinit.
err=$(zsh -f -c "fpath=($work/fpath \$fpath); autoload -U compinit; compinit -u -D
  autoload -Uz +X _l2wg && [[ \$_comps[l2wg] == _l2wg ]] && (( \$+functions[_l2wg] ))" 2>&1) ||
  fail "compinit does not bind _l2wg to l2wg: $err"
[ -z "$err" ] || fail "loading through compinit wrote: $err"
err=$(zsh -f -c "autoload -U compinit; compinit -u -D; source $source_dir/completion/_l2wg
  [[ \$_comps[l2wg] == _l2wg ]] && (( \$+functions[_l2wg] ))" 2>&1) ||
  fail "sourcing does not define _l2wg for l2wg: $err"
[ -z "$err" ] || fail "sourcing wrote: $err"
echo "ok: zsh loads _l2wg"

# The helpers alone.
names=$(zsh -f -c "source $source_dir/completion/_l2wg 2>/dev/null; _l2wg_tunnel_names" | sort | xargs)
[ "$names" = "dorm lab lab-2" ] || fail "tunnel names: got [$names]"
names=$(FAKE_DAEMON=down zsh -f -c "source $source_dir/completion/_l2wg 2>/dev/null; _l2wg_tunnel_names" 2>&1)
[ -z "$names" ] || fail "with l2wgd down: expected nothing, got [$names]"
names=$(zsh -f -c "source $source_dir/completion/_l2wg 2>/dev/null; _l2wg_interface_names wireguard" | sort | xargs)
[ "$names" = "wg-go wg0" ] || fail "WireGuard interfaces: got [$names]"

# Driven.
lines=("l2wg " "l2wg up lab --" "l2wg up lab --wg " "l2wg up lab --bridge " "l2wg up lab --datapath "
  "l2wg show " "l2wg down --all " "l2wg restart la")
out=$(timeout 60 zsh -f "$source_dir/tests/docs/zsh_drive.zsh" "$work/fpath" "${lines[@]}" 2>&1)
section() {  # section LINE: what the terminal showed after LINE<TAB>
  awk -v want="=== $1" '$0 == want {on = 1; next} /^=== / {on = 0} on' <<<"$out"
}
has() {  # has LINE WORD...: each WORD shown as a word after LINE<TAB>
  local line=$1 shown word
  shift
  shown=$(section "$line")
  for word in "$@"; do
    grep -qE "(^|[[:space:]=])$(sed 's/[.[*^$]/\\&/g' <<<"$word")([[:space:]]|$)" <<<"$shown" ||
      fail "zsh: after '$line<TAB>' no $word in: $shown"
  done
}
lacks() {
  local line=$1 shown word
  shift
  shown=$(section "$line")
  for word in "$@"; do
    ! grep -qE "(^|[[:space:]])$word([[:space:]]|$)" <<<"$shown" ||
      fail "zsh: after '$line<TAB>' $word is offered: $shown"
  done
}
subcommands=$("$l2wg" --help | awk '/^Subcommands:/ {s = 1; next} /^$/ {s = 0} s {print $1}')
# shellcheck disable=SC2086
has "l2wg " $subcommands
up_flags=$("$l2wg" up --help | awk '/^Options:/ {o = 1; next} /^[A-Z][a-z]+:/ {o = 0} o' |
  grep -oE '^  (-h,)?--[a-z][a-z0-9-]*' | sed 's/^  //; s/^-h,//')
# shellcheck disable=SC2086
has "l2wg up lab --" $up_flags
has "l2wg up lab --wg " wg0 wg-go
lacks "l2wg up lab --wg " eth0 tun9 br-wan
has "l2wg up lab --bridge " br-wan br-lan
lacks "l2wg up lab --bridge " eth0 wg0
has "l2wg up lab --datapath " auto kernel userspace
has "l2wg show " dorm lab lab-2
lacks "l2wg down --all " dorm lab
# A prefix with two matches completes their common part and lists them.
has "l2wg restart la" lab lab-2
if [ "$failures" -ne 0 ]; then
  echo "what zsh showed:"
  echo "$out"
  echo "$failures failure(s)"
  exit 1
fi
echo "all zsh completion checks passed"
