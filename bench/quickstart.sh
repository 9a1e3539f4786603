#!/usr/bin/env bash
# Time the README's offline quick start in a fresh copy of the repo (tracked and untracked, not ignored, files).
#   bash bench/quickstart.sh
set -euo pipefail
repo=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git -C "$repo" ls-files -z -co --exclude-standard | (cd "$repo" && xargs -0 cp --parents -t "$tmp")
cd "$tmp"
git init -q && git add -A && git -c user.email=b@b -c user.name=b commit -qm bench
cmd=$(grep -m1 '^dvc exp run -S dataset=sample' "$repo/README.md")
echo "command: $cmd"
start=$(date +%s.%N)
eval "$cmd" > log.txt 2>&1 || { tail -20 log.txt; exit 1; }
end=$(date +%s.%N)
grep -m1 "val accuracy" log.txt
printf 'wall time: %.1f s on %s cores\n' "$(echo "$end - $start" | bc)" "$(nproc)"
