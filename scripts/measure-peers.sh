#!/usr/bin/env bash
# hearth next to its peers, on the same 300-service sandbox (600 Deployments,
# 600 pods, idle): each program runs alone in a 200x50 tmux pane for
# 30 s of start-up plus MINUTES, and the script reports its resident memory,
# its CPU and the Kubernetes requests it sent (the sandbox's journal).
# Usage: scripts/measure-peers.sh [MINUTES] (default 2). Needs tmux, jq, a
# release build (cargo build --release), and the peers on PATH or in
# PEERS_BIN: `cargo install --locked --root DIR kdash` (and kubetui).
# A peer that is not installed is skipped.
set -eu
MIN=${1:-2}
BIN=$(pwd)/target/release/hearth
PEERS_BIN=${PEERS_BIN:-}
SB=$(mktemp -d /tmp/hearth-peers.XXXX)
"$BIN" sandbox --dir "$SB/sb" --count 300 >"$SB/sandbox.log" 2>&1 &
SBPID=$!
# Every cleanup step runs (under set -e a failing one would end the trap
# and leave the sandbox running) and the script keeps its own exit status.
trap 'rc=$?; tmux -L hearth-peers kill-server 2>/dev/null || true; kill $SBPID 2>/dev/null || true; rm -rf "$SB"; exit $rc' EXIT
"$BIN" sandbox --dir "$SB/sb" --wait >/dev/null
set -a; . "$SB/sb/env"; set +a
HZ=$(getconf CLK_TCK)
k8s_requests() { curl -s "$HEARTH_SANDBOX_URL/requests?api=kube" | jq 'length'; }
measure() { # label, program name (for pgrep), command line
  local label=$1 name=$2 cmd=$3
  tmux -L hearth-peers new-session -d -s peer -x 200 -y 50 "$cmd"
  sleep 2
  local pid
  pid=$(pgrep -n -x "$name" || true)
  if [ -z "$pid" ]; then echo "$label: did not start"; tmux -L hearth-peers kill-server 2>/dev/null || true; return; fi
  sleep 30
  curl -s -X DELETE "$HEARTH_SANDBOX_URL/requests" >/dev/null
  local t0 s0 t1 s1
  t0=$(awk '{print $14+$15}' /proc/$pid/stat); s0=$(date +%s.%N)
  sleep $((MIN * 60))
  t1=$(awk '{print $14+$15}' /proc/$pid/stat); s1=$(date +%s.%N)
  local rss cpu reqs
  rss=$(awk '/VmRSS/ {printf "%.1f", $2 / 1024}' /proc/$pid/status)
  cpu=$(echo "($t1 - $t0) / $HZ / ($s1 - $s0) * 100" | bc -l | cut -c1-5)
  reqs=$(k8s_requests)
  echo "$label: RSS $rss MB, CPU $cpu % of a core, $reqs Kubernetes requests in $MIN min"
  tmux -L hearth-peers capture-pane -p -t peer | head -4 > "$SB/$name.screen"
  tmux -L hearth-peers kill-server 2>/dev/null || true
  sleep 2
}
measure "hearth watch" hearth "$BIN watch"
measure "hearth (control room)" hearth "$BIN"
for peer in kdash kubetui; do
  path=$(PATH="${PEERS_BIN:+$PEERS_BIN:}$PATH" command -v $peer || true)
  if [ -n "$path" ]; then measure "$peer" "$peer" "$path"; else echo "$peer: not installed, skipped"; fi
done
