#!/usr/bin/env bash
# make bench: every benchmark of the project in one run, written to
# BENCHMARKS.md with the command that produced each table. Ratios are only
# compared within one run: the machine may be shared and noisy.
#   BENCH_QUICK=1      shorter runs (a smoke test of this script)
#   BENCH_OUTAGE=10m   how long the destination is down in the outage run
set -euo pipefail
cd "$(dirname "$0")/../.."
out=BENCHMARKS.md
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
quick=${BENCH_QUICK:-}
benchtime=2s
records=200000
duration=20s
outage=${BENCH_OUTAGE:-10m}
if [ -n "$quick" ]; then benchtime=200ms; records=50000; duration=5s; outage=${BENCH_OUTAGE:-10s}; fi

go build -o bin/pipebench ./examples/bench

section() { printf '\n## %s\n\n%s\n\n' "$1" "$2" >> "$tmp/body"; }
run() { # run CMD...: record the command, then its output in a code block
  printf '```\n$ %s\n' "$*" >> "$tmp/body"
  "$@" 2>&1 | grep -v '^PASS$\|^ok \|^goos\|^goarch\|^pkg:\|^cpu:' >> "$tmp/body" || true
  printf '```\n' >> "$tmp/body"
}
table() { # table CMD...: the command, then its markdown output as is
  printf '`$ %s`\n\n' "$*" >> "$tmp/body"
  "$@" >> "$tmp/body" 2>&1 || echo "(failed)" >> "$tmp/body"
}
gobench() { run go test -run '^$' -bench "$1" -benchtime "$benchtime" -benchmem "${@:2}"; }

: > "$tmp/body"
section "One out-of-process hop (foundation)" \
"jsonl → [passthrough] → file (format jsonl) with every plugin in its own process, at three batch sizes, and the same chain in process as the baseline of the same run. CPU is user+system of the host and its plugin processes; memory is their PSS (shared pages of the one binary counted once), sampled every 100 ms. Targets: one hop ≤ 3 CPU-µs per 500-byte record at batch ≥ 128; jsonl → file ≥ 300k records/s on 2 cores."
table bin/pipebench -records "$records" -batch 1,128,1024

section "Wire and record model" "A batch through a real gRPC stream and back, per record; building a record from a 500-byte event."
gobench 'RoundTrip|NewRecord' ./sdk/

section "Inputs" "jsonl Process alone on 500-byte lines, with and without event ids in the events."
gobench . ./plugins/input/jsonl/

section "Filters" "One core. Targets: pii_tokenizer ≥ 100k events/s without findings, ≥ 30k/s with findings, linear in size."
gobench . -cpu 1 ./plugins/filter/pii_tokenizer/ ./plugins/filter/classifier/ ./plugins/filter/anomaly_detector/ ./plugins/filter/passthrough/

section "PII detection quality" "Precision and recall per type on the labelled corpus in plugins/filter/pii_tokenizer/testdata (the test fails below 0.95)."
run go test -count=1 -run TestCorpusQuality -v ./plugins/filter/pii_tokenizer/

section "Tamper evidence" "One core, in process, three rounds: the VM is shared, and other tenants only ever slow a round down. Segments on disk, fsync never; the signer's state log fdatasynced per batch. Targets: signer + encryptor + store ≥ 200k events/s; verify ≥ 500k entries/s."
gobench . -cpu 1 -count 3 ./plugins/output/file/

section "SIEM outputs" "Each output against a local receiver speaking the destination's protocol (in the same process); bytes per event before and after gzip."
gobench . ./plugins/output/splunk_hec/ ./plugins/output/elasticsearch/ ./plugins/output/microsoft_sentinel/ ./plugins/output/chronicle/

section "MCP tap latency" "A tools/call round trip to a go-sdk server, direct and through the tap, in the same run. Targets on stdio: ≤ 50 µs p50 and ≤ 250 µs p99 added."
run go test -run '^$' -bench . -benchtime 3000x ./plugins/input/mcp_tap/

section "Fluent Bit" "The .so driven by the C harness the way Fluent Bit calls it: 2048-record chunks into the file backend; and the msgpack decoders alone. Fluent Bit itself is not installable here, so the comparison with its out_file is not measured (examples/fluentbit/bench.sh does it where Fluent Bit is installed)."
run make --no-print-directory fluentbit-bench
gobench Decode ./sdk/fluentbit/cmd/out_sentinel/

section "Full audit chain" "The real sentinel binary: http → pii_tokenizer → classifier → encryptor → signer → file (sealed), every plugin out of process, driven over HTTP at the offered rate by 32 clients posting 100 events per request (prebuilt requests on kept-alive connections: the driver shares the 2 cores, and its own CPU is not counted). By default the host runs the four filters and the store they alone feed in one plugin process (fuse_filters), each on its own goroutine; the first run gives each its own process, for comparison in the same run. The outage run fans out to a second output, so there the store keeps its own process. Latency is end to end: the 202 comes only once the events are in the store. Targets on 2 cores: ≥ 150k events/s, p99 ≤ 50 ms, total RSS ≤ 150 MB (measured as PSS)."
table bin/pipebench -mode chain -sentinel bin/sentinel -rate 150000 -duration "$duration" -fuse=false
table bin/pipebench -mode chain -sentinel bin/sentinel -rate 200000 -duration "$duration"
table bin/pipebench -mode chain -sentinel bin/sentinel -rate 150000 -duration "$duration"
table bin/pipebench -mode chain -sentinel bin/sentinel -rate 100000 -duration "$duration"
table bin/pipebench -mode chain -sentinel bin/sentinel -rate 75000 -duration "$duration"
table bin/pipebench -mode chain -sentinel bin/sentinel -rate 20000 -duration "$duration"

section "Destination outage" "The same chain fanned out to a Splunk HEC receiver behind a disk buffer (max 16 GiB); the receiver answers 503 for $outage under 5k events/s, then comes back, and the buffer drains."
table bin/pipebench -mode chain -sentinel bin/sentinel -rate 5000 -outage "$outage"

{
  echo "# Benchmarks"
  echo
  echo "Written by \`make bench\` ($(date -u +%Y-%m-%d), $(go version | cut -d' ' -f3), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start)."
  echo "Every table below is preceded by the command that produced it; rerun \`make bench\` to refresh it."
  cat "$tmp/body"
} > "$out"
echo "wrote $out"
