#!/bin/bash
# CPU per request of each of a running server's threads, and of its workers, over one wrk run.
# The threads are: the event loop (the process's own id), then the others in /proc order
# (store, log writer, ...). Not a test: a tool for A/B comparisons (run it alternately against
# two builds serving the same folder).
#
#   bench/tools/thread_cpu.sh PID URL [SECONDS]
#   e.g. build/sprocket serve bench/fixtures/hello.functions --listen 127.0.0.1:8090 &
#        bench/tools/thread_cpu.sh $! http://127.0.0.1:8090/_hcms/api/hello
set -eu
pid=$1 url=$2 seconds=${3:-6}
ticks() { awk '{print $14 + $15}' "$1"; }
declare -A before
for t in /proc/"$pid"/task/*; do before[$t]=$(ticks "$t/stat"); done
workers=$(pgrep -P "$pid" || true)
wb=0; for w in $workers; do wb=$((wb + $(ticks /proc/"$w"/stat))); done
out=$(wrk -t1 -c32 -d"${seconds}s" "$url")
n=$(awk '/requests in/ {print $1}' <<<"$out")
hz=$(getconf CLK_TCK)
echo "$(awk '/Requests\/sec/ {print $2}' <<<"$out") req/s over $n requests"
for t in /proc/"$pid"/task/*; do
  d=$(( $(ticks "$t/stat") - ${before[$t]:-0} ))
  echo "thread $(basename "$t") ($(cat "$t/comm")): $(( d * 1000000000 / hz / n )) ns/request"
done
wa=0; for w in $workers; do wa=$((wa + $(ticks /proc/"$w"/stat 2>/dev/null || echo 0))); done
echo "workers: $(( (wa - wb) * 1000000000 / hz / n )) ns/request"
