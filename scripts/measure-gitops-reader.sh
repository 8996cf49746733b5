#!/usr/bin/env bash
# The cost of the GitOps reader: `hearth watch` on the default sandbox
# (one `delivery: gitops` service, hecate), idle for 60 s after 20 s of
# start-up, against the same registry without hecate. Prints hearth's own
# CPU, its children's (the git commands the reader runs) and its RSS.
# Usage: scripts/measure-gitops-reader.sh (after cargo build --release)
set -euo pipefail
HEARTH=${HEARTH:-target/release/hearth}
dir=$(mktemp -d)
"$HEARTH" sandbox --dir "$dir/sb" >"$dir/log" 2>&1 &
sb=$!
# Every cleanup step runs (under set -e a failing one would end the trap)
# and the script keeps its own exit status.
trap 'rc=$?; kill $sb 2>/dev/null || true; tmux kill-session -t gitops-measure 2>/dev/null || true; rm -rf "$dir"; exit $rc' EXIT
for _ in $(seq 1 100); do [ -s "$dir/sb/env" ] && break; sleep 0.2; done
set -a; . "$dir/sb/env"; set +a
python3 - "$dir/sb/services.yaml" "$dir/sb/services-nogitops.yaml" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
t = re.sub(r'\nhecate:\n(  .*\n)*', '\n', t).replace(', hecate', '')
open(sys.argv[2], 'w').write(t)
PY
measure() {
  tmux new-session -d -s gitops-measure -x 200 -y 50 "$HEARTH --services $1 watch"
  sleep 20
  local pid
  pid=$(for p in $(pgrep -x hearth); do grep -qa watch /proc/$p/cmdline && grep -qa "$1" /proc/$p/cmdline && echo $p; done | head -1)
  read -r u0 s0 cu0 cs0 < <(awk '{print $14, $15, $16, $17}' /proc/$pid/stat)
  sleep 60
  read -r u1 s1 cu1 cs1 < <(awk '{print $14, $15, $16, $17}' /proc/$pid/stat)
  local rss; rss=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
  python3 -c "print(f'$2: hearth {(($u1+$s1)-($u0+$s0))/60:.2f} % of a core, its git children {(($cu1+$cs1)-($cu0+$cs0))/60:.2f} %, RSS {$rss/1024:.1f} MB')"
  tmux kill-session -t gitops-measure
}
measure "$dir/sb/services.yaml" "with hecate (gitops)"
measure "$dir/sb/services-nogitops.yaml" "without it"
