#!/usr/bin/env bash
# RSS and idle CPU of the control room on a 300-service sandbox.
# Usage: scripts/measure-live.sh [MINUTES] (default 10). Needs tmux and a
# release build (cargo build --release). Prints VmRSS and CPU% of `hearth`.
# Its own tmux server (-L): a session of an already running server would get
# that server's environment, not the sandbox's.
set -eu
MIN=${1:-10}
BIN=$(pwd)/target/release/hearth
SB=$(mktemp -d /tmp/hearth-measure.XXXX)
"$BIN" sandbox --dir "$SB/sb" --count 300 >"$SB/sandbox.log" 2>&1 &
SBPID=$!
# Every cleanup step runs (under set -e a failing one would end the trap)
# and the script keeps its own exit status.
trap 'rc=$?; tmux -L hearth-measure kill-session -t hearth-measure 2>/dev/null || true; kill $SBPID 2>/dev/null || true; rm -rf "$SB"; exit $rc' EXIT
for _ in $(seq 1 150); do [ -s "$SB/sb/env" ] && break; sleep 0.2; done
set -a; . "$SB/sb/env"; set +a
tmux -L hearth-measure new-session -d -s hearth-measure -x 200 -y 50 "$BIN"
sleep 2
PID=$(pgrep -n -f "^$BIN\$")
ticks() { awk '{print $14+$15}' /proc/$PID/stat; }
HZ=$(getconf CLK_TCK)
sleep 30   # start-up: first list of every watch, first GitHub poll of every service
echo "after 30 s: $(grep VmRSS /proc/$PID/status)"
T0=$(ticks); S0=$(date +%s.%N)
sleep $((MIN * 60))
T1=$(ticks); S1=$(date +%s.%N)
echo "after $MIN min more: $(grep VmRSS /proc/$PID/status) $(grep VmHWM /proc/$PID/status)"
echo "idle CPU over the last $MIN min: $(echo "($T1 - $T0) / $HZ / ($S1 - $S0) * 100" | bc -l | cut -c1-5) % of a core"
tmux -L hearth-measure capture-pane -p -t hearth-measure | head -5
