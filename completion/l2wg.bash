# bash completion for l2wg(8): subcommands, their flags, tunnel names from the running l2wgd, and
# interface names (WireGuard interfaces for --wg, bridges for --bridge, any for --lan and
# --interface). Installed as share/bash-completion/completions/l2wg.
#
# Where it looks can be moved (the tests do): L2WG_COMPLETION_SYSFS (default /sys) and
# L2WG_COMPLETION_WG_RUN (default /var/run/wireguard, where wireguard-go puts IF.sock).

_l2wg_commands="list show up down delete renew release restart reload monitor doctor version registry discover discovery"

# The tunnels l2wgd knows, one per line; nothing, silently, when it does not answer. The bus
# call does not start l2wgd (--auto-start=no): completing must not activate a service.
_l2wg_tunnel_names() {
  local out word
  if command -v busctl >/dev/null 2>&1; then
    # ListTunnels answers a(so): 'a(so) 2 "lab" "/net/l2wg1/tunnel/lab" "dorm" "/net/l2wg1/…"'.
    # Tunnel names are [A-Za-z0-9_-] only, so the words need no unquoting beyond the quotes.
    out=$(busctl --system --auto-start=no --timeout=2 call net.l2wg1 /net/l2wg1 \
      net.l2wg1.Manager ListTunnels 2>/dev/null) || return 0
    local -a words
    read -r -a words <<<"$out"
    local i
    for ((i = 2; i < ${#words[@]}; i += 2)); do
      word=${words[i]//\"/}
      [[ $word =~ ^[A-Za-z0-9_-]+$ ]] && printf '%s\n' "$word"
    done
  elif command -v l2wg >/dev/null 2>&1; then
    out=$(timeout 3 l2wg list --json 2>/dev/null) || return 0
    sed -n 's/^ *"Name": *"\([A-Za-z0-9_-]*\)".*/\1/p' <<<"$out"
  fi
}

# Interfaces, one per line. $1: all, wireguard (kernel WireGuard, or a wireguard-go tun with its
# UAPI socket) or bridge.
_l2wg_interfaces() {
  local sysfs=${L2WG_COMPLETION_SYSFS:-/sys} run=${L2WG_COMPLETION_WG_RUN:-/var/run/wireguard}
  local dir name
  for dir in "$sysfs"/class/net/*; do
    [[ -e $dir ]] || continue
    name=${dir##*/}
    case $1 in
      wireguard)
        if [[ -r $dir/uevent ]] && grep -qx 'DEVTYPE=wireguard' "$dir/uevent" 2>/dev/null; then
          printf '%s\n' "$name"
        elif [[ -S $run/$name.sock ]]; then
          printf '%s\n' "$name"
        fi
        ;;
      bridge) [[ -d $dir/bridge ]] && printf '%s\n' "$name" ;;
      *) printf '%s\n' "$name" ;;
    esac
  done
}

# COMPREPLY from newline-separated words matching $cur.
_l2wg_reply() {
  local IFS=$'\n'
  # shellcheck disable=SC2207
  COMPREPLY=($(compgen -W "$1" -- "$cur"))
}

_l2wg() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev="" cword=$COMP_CWORD
  COMPREPLY=()
  ((cword > 0)) && prev=${COMP_WORDS[cword - 1]}
  # --flag=value: bash splits at '=' (COMP_WORDBREAKS); complete the value of the flag.
  if [[ $cur == "=" ]]; then
    prev=${COMP_WORDS[cword - 1]}
    cur=""
  elif [[ $prev == "=" ]] && ((cword >= 2)); then
    prev=${COMP_WORDS[cword - 2]}
  fi

  # The subcommand, and whether its NAME has been given already.
  local command="" i word have_name=0
  for ((i = 1; i < cword; i++)); do
    word=${COMP_WORDS[i]}
    if [[ -z $command ]]; then
      [[ $word != -* ]] && command=$word
      continue
    fi
    case $word in
      =) ;;
      -*) ;;
      *)
        # A word after a flag that takes a value is that value, not NAME.
        case ${COMP_WORDS[i - 1]} in
          --wg | --peer | --local | --interface | --key | --mtu | --datapath | --bridge | \
            --prefix-length | --lan | --zone | --port | --registry | --keepalive | =) ;;
          *) have_name=1 ;;
        esac
        ;;
    esac
  done

  if [[ -z $command ]]; then
    if [[ $cur == -* ]]; then
      _l2wg_reply $'-h\n--help\n--version'
    else
      _l2wg_reply "${_l2wg_commands// /$'\n'}"
    fi
    return 0
  fi

  local flags="-h --help" takes_name=0 names=tunnels
  case $command in
    list | monitor) flags+=" --json" ;;
    show | doctor) flags+=" --json" takes_name=1 ;;
    delete | renew | release | restart) takes_name=1 ;;
    down) flags+=" --all" takes_name=1 ;;
    up)
      takes_name=1
      flags+=" --wg --peer --local --interface --key --mtu --datapath --bridge --create-bridge"
      flags+=" --isolated --pd --prefix-length --lan --no-source-routing --rapid-commit --persist"
      case $prev in
        --wg) _l2wg_reply "$(_l2wg_interfaces wireguard)"; return 0 ;;
        --bridge) _l2wg_reply "$(_l2wg_interfaces bridge)"; return 0 ;;
        --lan | --interface) _l2wg_reply "$(_l2wg_interfaces all)"; return 0 ;;
        --mtu) _l2wg_reply "auto"; return 0 ;;
        --datapath) _l2wg_reply $'auto\nkernel\nuserspace'; return 0 ;;
        --peer | --local | --key | --prefix-length) return 0 ;;
      esac
      ;;
    reload | version) ;;
    # Endpoint discovery: NAME is a WireGuard interface.
    registry | discover | discovery)
      takes_name=1 names=wireguard
      case $command in
        registry) flags+=" --zone --port --off" ;;
        discover) flags+=" --registry --zone --port --peer --override --keepalive --off" ;;
        discovery) flags+=" --json" ;;
      esac
      case $prev in
        --zone | --port | --registry | --peer | --keepalive) return 0 ;;
      esac
      ;;
    *) return 0 ;;
  esac

  if [[ $cur == -* ]] || ((takes_name == 0 || have_name == 1)); then
    _l2wg_reply "${flags// /$'\n'}"
  elif [[ $names == wireguard ]]; then
    _l2wg_reply "$(_l2wg_interfaces wireguard)"
  else
    _l2wg_reply "$(_l2wg_tunnel_names)"
  fi
  return 0
}

complete -F _l2wg l2wg
