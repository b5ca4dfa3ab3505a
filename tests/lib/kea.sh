# shellcheck shell=bash
# Kea (kea-dhcp6), the DHCPv6 server of the tests and benches: its configuration is written only
# here (kea_config), and it is started and stopped the same way everywhere (kea_start, kea_stop).
# kea_config needs nothing else (tests/unit/data/dhcp6_kea_capture.sh sources this file alone);
# kea_start and kea_stop need tests/lib/netns.sh.

KEA_HOOK_DIR=${KEA_HOOK_DIR:-/usr/lib/x86_64-linux-gnu/kea/hooks}

# kea_config FILE SETTING...: writes a kea-dhcp6 configuration that delegates /56s, logging to
# stdout. Settings, in any order:
#   --server-id HEX            the server's DUID-LL (a MAC in hex; required): a fixed server DUID
#                              instead of one Kea makes up and keeps in a file of its own
#   --subnet IF SUBNET POOL    a subnet on IF with a pd-pool POOL (PREFIX/LEN); at least one,
#                              one per interface Kea listens on
#   --leases FILE              leases kept in FILE across restarts, like a real server's
#                              (default: in memory, forgotten on exit)
#   --timers T1 T2 PREFERRED VALID   seconds (default: Kea's)
#   --option NAME DATA         an option sent to clients that ask for it (e.g. dns-servers)
#   --always-send NAME DATA    an option sent in every answer (e.g. preference)
#   --excluded-prefix P/LEN    every pool's RFC 6603 excluded prefix
#   --rapid-commit             rapid commit on every subnet
#   --run-script SCRIPT        the run_script hook runs SCRIPT for each lease event, not waited for
kea_config() {
  local file=$1 server_id="" leases="" timers="" excluded="" rapid_commit=false hooks=""
  local interfaces=() subnets=() options=()
  shift
  while [ $# -gt 0 ]; do
    local values
    case $1 in
      --rapid-commit) values=0 ;;
      --server-id | --leases | --excluded-prefix | --run-script) values=1 ;;
      --option | --always-send) values=2 ;;
      --subnet) values=3 ;;
      --timers) values=4 ;;
      *) echo "kea_config: unknown setting '$1'" >&2; return 2 ;;
    esac
    [ $# -gt $values ] || { echo "kea_config: $1 needs $values arguments" >&2; return 2; }
    case $1 in
      --server-id) server_id=$2 ;;
      --subnet) interfaces+=("\"$2\""); subnets+=("$2 $3 $4") ;;
      --leases) leases=$2 ;;
      --timers)
        timers="\"renew-timer\": $2, \"rebind-timer\": $3, \"preferred-lifetime\": $4, \"valid-lifetime\": $5," ;;
      --option) options+=("{ \"name\": \"$2\", \"data\": \"$3\" }") ;;
      --always-send) options+=("{ \"name\": \"$2\", \"data\": \"$3\", \"always-send\": true }") ;;
      --excluded-prefix) excluded=$2 ;;
      --rapid-commit) rapid_commit=true ;;
      --run-script)
        hooks="{ \"library\": \"$KEA_HOOK_DIR/libdhcp_run_script.so\", \"parameters\": { \"name\": \"$2\", \"sync\": false } }" ;;
    esac
    shift $((values + 1))
  done
  if [ -z "$server_id" ] || [ ${#subnets[@]} = 0 ]; then
    echo "kea_config: --server-id and --subnet are required" >&2
    return 2
  fi
  local database='{ "type": "memfile", "persist": false }'
  [ -z "$leases" ] ||
    database="{ \"type\": \"memfile\", \"persist\": true, \"lfc-interval\": 0, \"name\": \"$leases\" }"
  local subnet6=() id=0 spec interface subnet pool pd_pool
  for spec in "${subnets[@]}"; do
    read -r interface subnet pool <<<"$spec"
    pd_pool="\"prefix\": \"${pool%/*}\", \"prefix-len\": ${pool#*/}, \"delegated-len\": 56"
    [ -z "$excluded" ] ||
      pd_pool+=", \"excluded-prefix\": \"${excluded%/*}\", \"excluded-prefix-len\": ${excluded#*/}"
    id=$((id + 1))  # what Kea would number them anyway
    subnet6+=("{ \"id\": $id, \"subnet\": \"$subnet\", \"interface\": \"$interface\", \"rapid-commit\": $rapid_commit,
      \"pd-pools\": [ { $pd_pool } ] }")
  done
  cat >"$file" <<CONF
{ "Dhcp6": {
  "interfaces-config": { "interfaces": [ $(_kea_join "${interfaces[@]}") ] },
  "lease-database": $database,
  "server-id": { "type": "LL", "htype": 1, "identifier": "$server_id", "persist": false },
  $timers
  "option-data": [ $(_kea_join "${options[@]}") ],
  "hooks-libraries": [ $hooks ],
  "subnet6": [ $(_kea_join "${subnet6[@]}") ],
  "loggers": [ { "name": "kea-dhcp6", "output_options": [ { "output": "stdout" } ],
                 "severity": "INFO" } ]
} }
CONF
}
_kea_join() {  # _kea_join ITEM...: the items as a JSON list's inside
  local IFS=,
  echo "$*"
}

# kea_start NS CONFIG LOG: kea-dhcp6 in NS (lock and pid files in $WORKDIR), returns once it
# listens on ff02::1:2 on every interface of CONFIG. Sets KEA_PID.
KEA_PID=
kea_start() {
  local ns=$1 config=$2 log=$3
  bg_in "$ns" "$log" env KEA_LOCKFILE_DIR="$WORKDIR" KEA_PIDFILE_DIR="$WORKDIR" kea-dhcp6 -c "$config"
  KEA_PID=$BG_PID
  wait_for 15 _kea_listening "$ns" "$config" ||
    { echo "kea-dhcp6 ($config) did not start:"; tail -20 "$log"; return 1; }
}
_kea_listening() {  # _kea_listening NS CONFIG
  local sockets interface
  sockets=$(ip netns exec "$1" ss -H -uln 'sport = :547')
  for interface in $(jq -r '.Dhcp6."interfaces-config".interfaces[]' "$2"); do
    grep -qF "[ff02::1:2]%$interface:" <<<"$sockets" || return 1
  done
}
# kea_stop: stops the Kea of the last kea_start, if it still runs.
kea_stop() {
  [ -n "$KEA_PID" ] || return 0
  stop_pid "$KEA_PID"
  KEA_PID=
}
