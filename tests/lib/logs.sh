# shellcheck shell=bash
# Reading what the tests' programs log: l2wgd's log (spdlog's "[YYYY-mm-dd HH:MM:SS.mmm] …"
# lines) and ping's. Source it after tests/lib/netns.sh.

# log_order FILE SKIP FIRST THEN: past FILE's first SKIP lines, a line matching THEN follows one
# matching FIRST (awk regular expressions).
log_order() {
  tail -n +"$(($2 + 1))" "$1" |
    awk -v a="$3" -v b="$4" '$0 ~ a { seen = 1 } seen && $0 ~ b { ok = 1 } END { exit !ok }'
}
# log_time FILE SKIP PATTERN: the time (epoch s) of the first line past the first SKIP that
# matches PATTERN (grep -E); fails if there is none.
log_time() {
  local stamp
  stamp=$(tail -n +"$(($2 + 1))" "$1" | grep -E -m1 -- "$3" | grep -oE '^\[[^]]+\]' | tr -d '[]')
  [ -n "$stamp" ] && date -d "$stamp" +%s.%N
}

# ping_lost LOG: how many of ping's echo requests before its last reply were not answered (one
# still on its way when ping was stopped is not lost).
ping_lost() {
  grep -oE 'bytes from .* icmp_seq=[0-9]+' "$1" | grep -oE '[0-9]+$' | sort -n | awk '
    NR == 1 { first = $1 } { got[$1] = 1; last = $1 }
    END { n = 0; for (s = first; s <= last; s++) if (!(s in got)) n++; print n }'
}
# ping_replies_after LOG T: `ping -D`'s LOG has replies stamped after T (epoch s); prints how many.
ping_replies_after() {
  tr -d '[]' <"$1" | awk -v t="$2" '/bytes from/ && $1 + 0 > t + 0 { n++ } END { print n + 0 " replies"; exit !n }'
}
# pings_sent_within SECONDS INTERVAL: the most echo requests `ping -i INTERVAL` sends in SECONDS,
# one per INTERVAL begun and one more at the end.
pings_sent_within() {
  awk -v d="$1" -v i="$2" 'BEGIN { n = d / i; printf "%d", (n == int(n) ? n : int(n) + 1) + 1 }'
}
