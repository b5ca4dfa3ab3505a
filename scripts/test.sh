#!/usr/bin/env bash
# The project's test command: dependencies, configure, build, then the four tiers (unit, netns,
# kernel, package) with one summary at the end. Exits non-zero if anything failed or a tier could
# not run.
#
#   scripts/test.sh                 all four tiers on a RelWithDebInfo build in BUILD_ROOT/build
#   scripts/test.sh --sanitizers    additionally the unit and netns tiers on an ASan+UBSan build,
#                                   and with the unit tier the libFuzzer targets (a clang build)
#   scripts/test.sh --tiers unit,netns   only these tiers
#   scripts/test.sh --build-root DIR     build in DIR (also L2WG_BUILD_ROOT=DIR)
#
# The builds (build, build-asan, build-fuzz) and their configure logs are outside the source
# tree, by default in /var/tmp/l2wg-build/ and a directory named after the tree's path, so that
# worktrees do not share a build and a run leaves no file in the tree.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build_root=${L2WG_BUILD_ROOT:-/var/tmp/l2wg-build/$(sed 's|^/||; s|/|-|g' <<<"$root")}
tiers="unit,netns,kernel,package"
sanitizers=0
while [ $# -gt 0 ]; do
  case "$1" in
    --tiers) tiers=$2; shift 2 ;;
    --sanitizers) sanitizers=1; shift ;;
    --build-root) build_root=$2; shift 2 ;;
    *) echo "usage: $0 [--tiers unit,netns,kernel,package] [--sanitizers] [--build-root DIR]" >&2; exit 2 ;;
  esac
done
build_root=$(realpath -m "$build_root")
case $build_root/ in
  "$root"/*) echo "test.sh: the build root $build_root is inside the source tree; choose one outside" >&2; exit 2 ;;
esac
mkdir -p "$build_root" || exit 1
echo "test.sh: building in $build_root"

"$root/scripts/deps.sh" || { echo "test.sh: installing dependencies failed"; exit 1; }

passed=0
failed=0
summary=()

build() {  # build DIR CMAKE_ARGS...
  local dir=$1
  shift
  cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DL2WG_WERROR=ON "$@" >"$dir.configure.log" 2>&1 &&
    cmake --build "$dir" -j"$(nproc)" 2>&1 | tail -n 30
  return "${PIPESTATUS[0]}"
}

run_tier() {  # run_tier BUILD_DIR LABEL NAME
  local dir=$1 label=$2 name=$3 log
  log=$(mktemp)
  echo "=== tier $name"
  # -j2: tests that may run side by side do (tests/CMakeLists.txt says which); the rest take turns.
  ctest --test-dir "$dir" -L "^$label\$" -j2 --output-on-failure --no-tests=error 2>&1 | tee "$log"
  local status=${PIPESTATUS[0]}
  local line total bad
  line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)
  if [ -z "$line" ]; then
    echo "test.sh: tier $name could not run (no ctest summary; status $status)"
    failed=$((failed + 1))
    summary+=("$name: COULD NOT RUN")
  else
    total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
    bad=$(sed -E 's/.* ([0-9]+) tests? failed.*/\1/' <<<"$line")
    passed=$((passed + total - bad))
    failed=$((failed + bad))
    summary+=("$name: $((total - bad)) passed, $bad failed")
    # ctest exits non-zero without a failed test when, e.g., none matched: count that too.
    if [ "$status" -ne 0 ] && [ "$bad" -eq 0 ]; then
      failed=$((failed + 1))
      summary+=("$name: ctest exited $status")
    fi
  fi
  rm -f "$log"
}

if build "$build_root/build"; then
  for tier in ${tiers//,/ }; do run_tier "$build_root/build" "$tier" "$tier"; done
else
  echo "test.sh: the build failed (see above and $build_root/build.configure.log)"
  failed=$((failed + 1))
  summary+=("build: FAILED")
fi

if [ "$sanitizers" = 1 ]; then
  if build "$build_root/build-asan" -DL2WG_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug; then
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    for tier in unit netns; do
      case ",$tiers," in *",$tier,"*) run_tier "$build_root/build-asan" "$tier" "$tier (asan+ubsan)" ;; esac
    done
  else
    echo "test.sh: the sanitizer build failed"
    failed=$((failed + 1))
    summary+=("asan build: FAILED")
  fi
  # The fuzzers need clang's libFuzzer; that build holds only them and the libraries they use.
  case ",$tiers," in
    *",unit,"*)
      if build "$build_root/build-fuzz" -DL2WG_FUZZ=ON \
        -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++; then
        run_tier "$build_root/build-fuzz" fuzz "fuzz (libfuzzer+asan+ubsan)"
      else
        echo "test.sh: the fuzz build failed (see above and $build_root/build-fuzz.configure.log)"
        failed=$((failed + 1))
        summary+=("fuzz build: FAILED")
      fi
      ;;
  esac
fi

echo "=== summary"
printf '%s\n' "${summary[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
