#!/bin/sh
# records/s of `tail -> sentinel (file backend)` against Fluent Bit's own
# out_file on the same input. Needs fluent-bit on PATH (not available in CI)
# and `make fluentbit`. Usage: examples/fluentbit/bench.sh [RECORDS]
set -eu
n=${1:-1000000}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
command -v fluent-bit >/dev/null || { echo "fluent-bit not installed" >&2; exit 1; }
line='{"event_id":"%s","timestamp":"2025-06-01T12:00:00.000Z","event_type":"mcp_tool_execution","severity":"info","user_id":"alice","server":"crm","tool_name":"lookup_customer","arguments":{"customer_id":42,"fields":["name","tier"]},"duration_ms":12.5,"success":true}\n'
seq 1 "$n" | while read -r i; do printf "$line" "e-$i"; done > "$work/audit.jsonl"

# Runs fluent-bit until the output has written every record; prints seconds.
run() { # name, output args...
  name=$1; shift
  start=$(date +%s.%N)
  fluent-bit -q -R "$root/examples/fluentbit/parsers.conf" -e "$root/dist/out_sentinel.so" \
    -i tail -p path="$work/audit.jsonl" -p parser=sentinel_audit -p read_from_head=on -t audit \
    "$@" -f 1 >"$work/$name.log" 2>&1 &
  pid=$!
  until [ "$(cat "$work/$name"/* 2>/dev/null | grep -c e-)" -ge "$n" ]; do sleep 0.2; done
  end=$(date +%s.%N)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$name: $(echo "$n / ($end - $start)" | bc) records/s"
}
mkdir -p "$work/out_file" "$work/sentinel"
run out_file -o file -p path="$work/out_file" -p workers=1 -m '*'
run sentinel -o sentinel -p backend=file -p path="$work/sentinel" -p format=jsonl -p fsync=never \
  -p data_dir="$work/data" -p workers=1 -m '*'
