#!/usr/bin/env bash
# Memory of `hearth watch` under churn: a 300-service sandbox with the demo
# autopilot shipping (CI runs, rollouts, now and then a failing migration
# rolled back), plus every 15 s a `rollout restart` of a random service
# (pod churn) and a cut of every Kubernetes watch (re-lists). Samples VmRSS
# every minute, with the live heap bytes (what the program holds, counted by
# the `memstats` feature's allocator) next to it, and prints the first and
# last sample and the least-squares slope of each. RSS alone cannot tell a
# leak from an allocator keeping freed pages; the heap can.
# Usage: scripts/measure-watch-soak.sh [MINUTES] (default 10); needs tmux,
# kubectl and jq. It builds `cargo build --release --features memstats` and
# measures a copy of that binary (run `cargo build --release` afterwards for
# the plain one).
set -eu
MIN=${1:-10}
SB=$(mktemp -d /tmp/hearth-soak.XXXX)
cargo build --release --features memstats --quiet
cp target/release/hearth "$SB/hearth"
BIN=$SB/hearth
"$BIN" sandbox --dir "$SB/sb" --count 300 --speed 2 --autopilot >"$SB/sandbox.log" 2>&1 &
SBPID=$!
CHURN=
# Every cleanup step runs (under set -e a failing one would end the trap)
# and the script keeps its own exit status.
trap 'rc=$?; tmux -L hearth-soak kill-session -t hearth-soak 2>/dev/null || true; if [ -n "$CHURN" ]; then kill $CHURN 2>/dev/null || true; fi; kill $SBPID 2>/dev/null || true; rm -rf "$SB"; exit $rc' EXIT
"$BIN" sandbox --dir "$SB/sb" --wait >/dev/null
set -a; . "$SB/sb/env"; set +a
tmux -L hearth-soak new-session -d -s hearth-soak -x 200 -y 50 "HEARTH_MEMSTATS=$SB/heap.csv $BIN watch"
sleep 2
PID=$(pgrep -n -f "^$BIN watch\$")
( while sleep 15; do
    svc=$(printf 'svc-%03d' $((RANDOM % 300 + 1)))
    kubectl -n qa rollout restart "deployment/$svc" >/dev/null 2>&1 || true
    curl -s -X POST "$HEARTH_SANDBOX_URL/faults" -d '{"kind":"drop_watches"}' >/dev/null || true
  done ) &
CHURN=$!
rss() { awk '/VmRSS/ {print $2}' /proc/$PID/status; }
heap() { tail -1 "$SB/heap.csv" | awk -F, '{printf "%d", $2 / 1024}'; }
sleep 30   # start-up: first lists and polls
echo "minute,rss_kb,heap_kb" > "$SB/samples.csv"
for m in $(seq 0 "$MIN"); do
  echo "$m,$(rss),$(heap)" >> "$SB/samples.csv"
  [ "$m" -lt "$MIN" ] && sleep 60
done
cat "$SB/samples.csv"
fit() { # column, label
  awk -F, -v c="$1" -v what="$2" 'NR > 1 { n++; sx += $1; sy += $c; sxy += $1 * $c; sxx += $1 * $1; if (n == 1) first = $c; last = $c }
    END { slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
          printf "%s start %.1f MB, end %.1f MB, slope %.3f MB/min over %d samples\n", what, first / 1024, last / 1024, slope / 1024, n }' "$SB/samples.csv"
}
fit 2 RSS
fit 3 "live heap"
echo "peak heap $(tail -1 "$SB/heap.csv" | awk -F, '{printf "%.1f MB", $3 / 1048576}')"
echo "churn: about $(( MIN * 4 )) restarts and watch cuts; $(curl -s "$HEARTH_SANDBOX_URL/requests?api=github" | jq '[.[] | select(.method != "GET")] | length') GitHub writes by the autopilot"
tmux -L hearth-soak capture-pane -p -t hearth-soak | head -8
