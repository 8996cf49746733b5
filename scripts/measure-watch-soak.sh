#!/usr/bin/env bash
# Memory of `hearth watch` under churn: a 300-service sandbox with the demo
# autopilot shipping (CI runs, rollouts, now and then a failing migration
# rolled back), plus every 15 s a `rollout restart` of a random service
# (pod churn) and a cut of every Kubernetes watch (re-lists). Samples VmRSS
# every minute and prints the first and last sample and the least-squares
# slope. Usage: scripts/measure-watch-soak.sh [MINUTES] (default 10); needs
# tmux, kubectl and a release build (cargo build --release).
set -eu
MIN=${1:-10}
BIN=$(pwd)/target/release/hearth
SB=$(mktemp -d /tmp/hearth-soak.XXXX)
"$BIN" sandbox --dir "$SB/sb" --count 300 --speed 2 --autopilot >"$SB/sandbox.log" 2>&1 &
SBPID=$!
CHURN=
trap 'tmux -L hearth-soak kill-session -t hearth-soak 2>/dev/null; [ -n "$CHURN" ] && kill $CHURN 2>/dev/null; kill $SBPID 2>/dev/null; rm -rf "$SB"' EXIT
"$BIN" sandbox --dir "$SB/sb" --wait >/dev/null
set -a; . "$SB/sb/env"; set +a
tmux -L hearth-soak new-session -d -s hearth-soak -x 200 -y 50 "$BIN watch"
sleep 2
PID=$(pgrep -n -f "^$BIN watch\$")
( while sleep 15; do
    svc=$(printf 'svc-%03d' $((RANDOM % 300 + 1)))
    kubectl -n qa rollout restart "deployment/$svc" >/dev/null 2>&1 || true
    curl -s -X POST "$HEARTH_SANDBOX_URL/faults" -d '{"kind":"drop_watches"}' >/dev/null || true
  done ) &
CHURN=$!
rss() { awk '/VmRSS/ {print $2}' /proc/$PID/status; }
sleep 30   # start-up: first lists and polls
echo "minute,rss_kb" > "$SB/samples.csv"
for m in $(seq 0 "$MIN"); do
  echo "$m,$(rss)" >> "$SB/samples.csv"
  [ "$m" -lt "$MIN" ] && sleep 60
done
cat "$SB/samples.csv"
awk -F, 'NR > 1 { n++; sx += $1; sy += $2; sxy += $1 * $2; sxx += $1 * $1; if (n == 1) first = $2; last = $2 }
  END { slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
        printf "RSS start %.1f MB, end %.1f MB, slope %.3f MB/min over %d samples\n", first / 1024, last / 1024, slope / 1024, n }' "$SB/samples.csv"
echo "churn: about $(( MIN * 4 )) restarts and watch cuts; $(curl -s "$HEARTH_SANDBOX_URL/requests?api=github" | jq '[.[] | select(.method != "GET")] | length') GitHub writes by the autopilot"
tmux -L hearth-soak capture-pane -p -t hearth-soak | head -8
