#!/usr/bin/env bash
# run_fuzzer.sh FUZZER WORK_DIR RUNS: one fixed-length libFuzzer run, as ctest's `fuzz` label
# does it. The seed corpus is made afresh in WORK_DIR by make_corpus.py (from the Kea captures);
# the fuzzer grows it there and writes any crash, leak or timeout input there too.
set -euo pipefail
fuzzer=$1 work=$2 runs=$3
name=$(basename "$fuzzer")
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
python3 "$(dirname "$0")/make_corpus.py" "$work/seeds"
seeds=$work/seeds/$name
[ -n "$(ls -A "$seeds" 2>/dev/null)" ] || { echo "run_fuzzer: no seed corpus for $name"; exit 1; }
cp "$seeds"/* "$work/corpus/"
start=$SECONDS
"$fuzzer" -runs="$runs" -timeout=10 -rss_limit_mb=2048 -detect_leaks=1 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" "$work/corpus"
echo "run_fuzzer: $(basename "$fuzzer"): $runs runs in $((SECONDS - start)) s, no finding"
