#!/usr/bin/env bash
# Loads each *.nft here into a throwaway network namespace and writes what libnftables' JSON API
# gives back (`nft -j list ruleset`) beside it as *.json: the unit tests' captures. Run as root
# after changing a .nft file.
set -euo pipefail
cd "$(dirname "$0")"
ns=l2wg-nft-capture-$$
ip netns add "$ns"
trap 'ip netns delete "$ns"' EXIT
for source in *.nft; do
  ip netns exec "$ns" nft flush ruleset
  ip netns exec "$ns" nft -f "$source"
  ip netns exec "$ns" nft -j list ruleset | python3 -m json.tool --indent 1 > "${source%.nft}.json"
  echo "captured ${source%.nft}.json"
done
