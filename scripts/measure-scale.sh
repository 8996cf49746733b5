#!/usr/bin/env bash
# The control room at N services on the sandbox at speed 1, driven in a
# 200x50 tmux pane as a person would, and the six figures of "fresh at any
# size":
#   1. start -> first complete screen: no "unknown" or "no data yet" in the
#      rows shown and the selected service's detail;
#   2. a teammate's release (a prerelease POSTed to the sandbox's GitHub API,
#      not made by this hearth) for a random service, selected with `/` ->
#      its CI run on the service's row; p50/p95 over TRIALS, and in how many
#      trials the run was first seen while it still ran (its steps stream);
#   3. idle CPU of the control room (60 s, after 20 s without a key) and of
#      a fresh `hearth watch` (60 s, after its start-up: 30 s + N/5 s, or
#      WATCH_SETTLE seconds);
#   4. counted GitHub requests (not answered 304) over the control room's
#      idle minute, per hour;
#   5. resident memory of the control room after the trials.
# Usage: scripts/measure-scale.sh [N ...] (default: 20 100 300); TRIALS
# (default 20); CHECKOUTS=0 points every service's directory elsewhere, so
# commits-behind counts come from GitHub's compare API (two requests per
# service at start-up, on top of the scheduler's reads). Needs tmux, jq, python3 with yaml, and a release build
# (cargo build --release). Prints one table row per N.
set -eu
TRIALS=${TRIALS:-20}
BIN=$(pwd)/target/release/hearth
[ -x "$BIN" ] || { echo "no $BIN: cargo build --release first"; exit 1; }
HZ=$(getconf CLK_TCK)
SBPID=
# Every cleanup step runs (under set -e a failing one would end the trap)
# and the script keeps its own exit status; each size's directory (sandbox,
# logs) stays in /tmp/hearth-scale.* to look at.
trap 'rc=$?; tmux kill-server 2>/dev/null || true; if [ -n "$SBPID" ]; then kill $SBPID 2>/dev/null || true; fi; exit $rc' EXIT
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
cpu_of() { # pid seconds -> % of a core
  local a b
  a=$(awk '{print $14+$15}' /proc/$1/stat); sleep "$2"; b=$(awk '{print $14+$15}' /proc/$1/stat)
  echo "scale=2; ($b - $a) * 100 / $HZ / $2" | bc
}
pct() { # percentile p of the numbers on stdin
  sort -n | awk -v p="$1" '{a[NR]=$1} END {i=int((NR*p+99)/100); if (i<1) i=1; print a[i]}'
}
one() {
  local N=$1 W
  W=$(mktemp -d /tmp/hearth-scale.XXXX)
  export TMUX_TMPDIR=$W
  "$BIN" sandbox --dir "$W/sb" --speed 1 --count "$N" >"$W/sandbox.log" 2>&1 &
  SBPID=$!
  "$BIN" sandbox --dir "$W/sb" --wait >/dev/null
  set -a; . "$W/sb/env"; set +a
  if [ "${CHECKOUTS:-1}" = 0 ]; then
    sed 's#directory: repos/#directory: not-checked-out/#' "$HEARTH_SERVICES" >"$W/sb/services-no-checkouts.yaml"
    export HEARTH_SERVICES=$W/sb/services-no-checkouts.yaml
  fi
  export XDG_STATE_HOME=$W/state
  local t0 first=timeout scr
  t0=$(date +%s%N)
  tmux new-session -d -s s -x 200 -y 50 "NO_COLOR=1 '$BIN'; sleep 5"
  for _ in $(seq 1 600); do
    scr=$(tmux capture-pane -p -t s)
    if grep -q "svc-001" <<<"$scr" && ! grep -qiE "unknown|no data yet" <<<"$scr"; then first=$(ms_since "$t0"); break; fi
    sleep 0.05
  done
  sleep 10
  : >"$W/lat"; local streamed=0 i svc repo run0 t1 ms r row
  for i in $(seq 1 "$TRIALS"); do
    svc=$(printf 'svc-%03d' $(( (RANDOM % N) + 1 )))
    repo=$(python3 -c "import yaml; print(yaml.safe_load(open('$HEARTH_SERVICES'))['$svc']['repo'])")
    tmux send-keys -t s Escape; sleep 0.4; tmux send-keys -t s /; sleep 0.2
    tmux send-keys -t s -l "$svc"; sleep 0.2; tmux send-keys -t s Enter; sleep 1
    run0=$(tmux capture-pane -p -t s | grep -m1 "^│$svc " | grep -oE '#[0-9]+' | head -1 || true)
    git -C "$W/sb/repos/$svc" tag "v9.$i.0-rc.1" && git -C "$W/sb/repos/$svc" push -q origin "v9.$i.0-rc.1"
    sleep $(( RANDOM % 4 ))
    t1=$(date +%s%N)
    curl -sf -X POST -H "Authorization: Bearer $GH_TOKEN" -H 'Content-Type: application/json' \
      -d "{\"tag_name\":\"v9.$i.0-rc.1\",\"prerelease\":true}" "$GITHUB_API_URL/repos/$repo/releases" >/dev/null
    ms=60000
    for _ in $(seq 1 1200); do
      row=$(tmux capture-pane -p -t s | grep -m1 "^│$svc " || true)
      r=$(grep -oE '#[0-9]+' <<<"$row" | head -1 || true)
      if [ -n "$r" ] && [ "$r" != "$run0" ]; then
        ms=$(ms_since "$t1")
        # Still going when first seen (queued ○ or running ●): its steps
        # stream from the start.
        grep -qE "[●○] +#[0-9]+" <<<"$row" && streamed=$((streamed + 1))
        break
      fi
      sleep 0.05
    done
    echo "$ms" >>"$W/lat"
  done
  local p50 p95 max
  p50=$(pct 50 <"$W/lat"); p95=$(pct 95 <"$W/lat"); max=$(pct 100 <"$W/lat")
  tmux send-keys -t s Escape
  local pid
  pid=$(pgrep -P "$(tmux list-panes -t s -F '#{pane_pid}')" -x hearth | head -1)
  local rss
  rss=$(awk '/VmRSS/ {printf "%.1f", $2 / 1024}' /proc/$pid/status)
  sleep 20
  local since counted cpu
  since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  cpu=$(cpu_of "$pid" 60)
  curl -s "$HEARTH_SANDBOX_URL/requests?api=github&since=$since" | jq -r '.[] | select(.conditional_hit | not) | .path' >"$W/counted"
  counted=$(wc -l <"$W/counted")
  # The watch's session first: killing the last session ends tmux's server.
  tmux new-session -d -s w -x 200 -y 50 "NO_COLOR=1 '$BIN' watch; sleep 5"
  tmux kill-session -t s
  sleep 2
  pid=$(pgrep -P "$(tmux list-panes -t w -F '#{pane_pid}')" -x hearth | head -1)
  # Idle means after start-up: its first reads (two per service at the
  # budget's 10 requests/s) take a minute at 300 services.
  sleep "${WATCH_SETTLE:-$((30 + N / 5))}"
  local wcpu wrss
  wcpu=$(cpu_of "$pid" 60)
  wrss=$(awk '/VmRSS/ {printf "%.1f", $2 / 1024}' /proc/$pid/status)
  tmux kill-server 2>/dev/null || true
  kill $SBPID 2>/dev/null || true
  wait $SBPID 2>/dev/null || true
  printf '| %s | %s ms | p50 %s ms, p95 %s ms, max %s ms; streaming %s/%s | %s %% / %s %% | %s | %s MB / %s MB |\n' \
    "$N" "$first" "$p50" "$p95" "$max" "$streamed" "$TRIALS" "$cpu" "$wcpu" "$((counted * 60))" "$rss" "$wrss"
}
echo "| services | first complete screen | teammate release → run on screen ($TRIALS trials) | idle CPU, control room / watch | counted GitHub requests per idle hour | RSS, control room / watch |"
echo "|---|---|---|---|---|---|"
for n in "${@:-20 100 300}"; do
  for m in $n; do one "$m"; done
done
