#!/usr/bin/env bash
# make demo: a simulated Asterisk (cdrgw ari-replay serving a real ARI
# recording), the gateway (cdrgw serve -c scripts/demo.yaml, SQLite in a
# temporary directory) and a loopback webhook receiver that prints what it
# gets. It stops everything when the replay is over, on Ctrl-C, or after
# DEMO_TIMEOUT seconds (default and most 60), then counts the deliveries.
#
#   scripts/demo.sh [BIN]          BIN: a built cdrgw (default: build bin/cdrgw)
#
# Environment: DEMO_SPEED (replay speed, default 10; 1 is the recorded
# 147 s, cut at DEMO_TIMEOUT), DEMO_RECORDING (default
# ingest/ari/testdata/ari-events.jsonl), DEMO_ARI_PORT (18088),
# DEMO_HTTP_PORT (18080), DEMO_RECEIVER_PORT (18099), GO (go).
set -euo pipefail
cd "$(dirname "$0")/.."

go=${GO:-go}
bin=${1:-}
speed=${DEMO_SPEED:-10}
recording=${DEMO_RECORDING:-ingest/ari/testdata/ari-events.jsonl}
timeout=${DEMO_TIMEOUT:-60}
((timeout > 60)) && timeout=60
export DEMO_ARI_PORT=${DEMO_ARI_PORT:-18088}
export DEMO_HTTP_PORT=${DEMO_HTTP_PORT:-18080}
export DEMO_RECEIVER_PORT=${DEMO_RECEIVER_PORT:-18099}
DEMO_DIR=$(mktemp -d "${TMPDIR:-/tmp}/cdrgw-demo.XXXXXX")
export DEMO_DIR

pids=()
stopped=0
finish() {
	((stopped)) && return
	stopped=1
	set +e
	# Stop what this script started, newest first, by process id.
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill -TERM "${pids[i]}" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	if [[ -s $DEMO_DIR/received.log ]]; then
		echo
		echo "== delivered to the receiver, by event type:"
		grep -o '"type":"[a-z.]*"' "$DEMO_DIR/received.log" | sort | uniq -c | sed 's/"type":"\(.*\)"/\1/'
	fi
	rm -rf "$DEMO_DIR"
}
trap finish EXIT
trap 'echo; echo "demo: interrupted, stopping"; exit 130' INT TERM

fail() {
	echo "demo: $*" >&2
	for f in cdrgw replay; do
		[[ -s $DEMO_DIR/$f.log ]] && { echo "--- $f log:" >&2; tail -20 "$DEMO_DIR/$f.log" >&2; }
	done
	exit 1
}

# in_use PORT: something accepts connections on 127.0.0.1:PORT.
in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_port PORT NAME PID: wait up to 10 s for NAME to listen.
wait_port() {
	for _ in $(seq 100); do
		in_use "$1" && return 0
		kill -0 "$3" 2>/dev/null || fail "$2 exited before listening on 127.0.0.1:$1"
		sleep 0.1
	done
	fail "$2 does not listen on 127.0.0.1:$1 after 10 s"
}

for p in "$DEMO_ARI_PORT" "$DEMO_HTTP_PORT" "$DEMO_RECEIVER_PORT"; do
	in_use "$p" && fail "127.0.0.1:$p is in use; set DEMO_ARI_PORT, DEMO_HTTP_PORT or DEMO_RECEIVER_PORT"
done
[[ -r $recording ]] || fail "recording $recording not found"

if [[ -z $bin ]]; then
	bin=bin/cdrgw
	echo "demo: building $bin"
	"$go" build -o "$bin" ./cmd/cdrgw
fi
"$go" build -o "$DEMO_DIR/demoreceiver" ./internal/receiver/cmd/demoreceiver

"$bin" validate -c scripts/demo.yaml >/dev/null || fail "scripts/demo.yaml does not validate"

"$DEMO_DIR/demoreceiver" -listen "127.0.0.1:$DEMO_RECEIVER_PORT" >"$DEMO_DIR/received.log" 2>&1 &
pids+=($!)
wait_port "$DEMO_RECEIVER_PORT" receiver "$!"

"$bin" ari-replay --listen "127.0.0.1:$DEMO_ARI_PORT" --speed "$speed" "$recording" >"$DEMO_DIR/replay.log" 2>&1 &
pids+=($!)
wait_port "$DEMO_ARI_PORT" "cdrgw ari-replay" "$!"

# The replay starts when the gateway connects; it lasts the recording's
# span divided by the speed.
span() { date -u -d "$(grep -o '"timestamp":"[^"]*"' | sed 's/"timestamp":"\(.*\)"/\1/')" +%s.%N; }
first=$(head -1 "$recording" | span)
last=$(tail -1 "$recording" | span)
replay=$(awk -v a="$first" -v b="$last" -v s="$speed" 'BEGIN { d = b - a; if (s > 0) d /= s; else d = 1; printf "%d", d + 1 }')

"$bin" serve -c scripts/demo.yaml >"$DEMO_DIR/cdrgw.log" 2>&1 &
pids+=($!)
wait_port "$DEMO_HTTP_PORT" "cdrgw serve" "$!"

echo "demo: replaying $recording ($(wc -l <"$recording") ARI events) at speed $speed, about ${replay} s"
echo "demo: gateway http://127.0.0.1:$DEMO_HTTP_PORT (try: $bin deliveries --server http://127.0.0.1:$DEMO_HTTP_PORT)"
echo "demo: deliveries as the receiver gets them (Ctrl-C stops):"
start=$SECONDS
deadline=$((start + timeout))
until_quiet=$((start + replay + 3)) # the replay is over; let the last deliveries arrive
shown=0
while ((SECONDS < deadline)); do
	n=$(wc -l <"$DEMO_DIR/received.log")
	if ((n > shown)); then
		sed -n "$((shown + 1)),${n}p" "$DEMO_DIR/received.log" | sed 's/^/  /'
		shown=$n
	fi
	for p in "${pids[@]}"; do
		kill -0 "$p" 2>/dev/null || fail "a demo process (pid $p) exited early"
	done
	((SECONDS >= until_quiet)) && break
	sleep 0.5
done
((SECONDS >= deadline)) && echo "demo: stopped after $timeout s (DEMO_TIMEOUT)"
echo
echo "== the gateway's view (cdrgw deliveries --limit 5):"
"$bin" deliveries --server "http://127.0.0.1:$DEMO_HTTP_PORT" --limit 5 || true
