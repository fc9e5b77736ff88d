# Helpers the benchmark scripts share (sourced; they set -euo pipefail and cd to the repository root first).

# A free TCP port on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Waits up to 20 s for a 200 from curl ARGS...
wait_200() { for _ in $(seq 1 2000); do [ "$(curl -sk -o /dev/null -w '%{http_code}' "$@")" = 200 ] && return 0; sleep 0.01; done; echo "no 200 from $*" >&2; return 1; }
# wrk's latency figure (450.00us, 1.20ms, 2.00s) in milliseconds.
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.2f", v}'; }
# ITEMS... rotated left by ROUND (from 1: the first round keeps the order), one per line. Rounds run their
# targets in rotated order, so no target always runs right after another or at the same point of a round.
rotated() { local r=$1; shift; local n=$#; local items=("$@"); for i in $(seq 0 $((n - 1))); do echo "${items[$(( (i + r - 1) % n ))]}"; done; }
# The median of the numbers on stdin, one per line.
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

# A scratch directory and the background processes to stop (scripts add their pids), both gone on exit.
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
