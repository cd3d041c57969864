# Sentinel — audit pipeline for MCP traffic.
#   make build      bin/sentinel (every bundled plugin inside)
#   make test       every test, what they need installed first
#   make demo       a real MCP client and server through the tap into a verified store
#   make bench      benchmarks and the load driver, written to BENCHMARKS.md
#   make examples   the custom filter plugin, built into its plugins_dir
#   make fluentbit  dist/out_sentinel.so, every output as one Fluent Bit plugin
#   make chaos      kill -9 the host and plugins under load; every accepted event stored, store verifies

GO       ?= go
BIN      := bin
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/sentinel-audit/sentinel/host/cli.Version=$(VERSION)
GOFLAGS  += -trimpath
export GOFLAGS

PROTOC_GEN_GO      := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1
TOOLS := $(CURDIR)/.tools

.PHONY: all build test test-go test-race test-receivers chaos tools examples demo bench proto tools lint clean

include sdk/fluentbit/fluentbit.mk

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/sentinel ./host/cmd/sentinel

# The custom filter plugin, built the way a user would, into the example's
# plugins_dir, with its SHA-256 written next to it for the pipeline's pin.
examples: build
	$(GO) build -o examples/custom_filter/plugins/deny_tools ./examples/custom_filter
	sha256sum examples/custom_filter/plugins/deny_tools | cut -d' ' -f1 | tr -d '\n' > examples/custom_filter/plugins/deny_tools.sha256

# Everything the tests need is built first: the binary, the custom plugin, and
# the Fluent Bit .so with the C harness that loads it the way Fluent Bit does.
test: tools build examples lint fluentbit fluentbit-harness test-go test-race test-receivers chaos

# What the tests need beyond Go: a C compiler (cgo, the Fluent Bit harness)
# and headless Chromium (the HTML report is rendered and its charts checked).
tools:
	@command -v cc >/dev/null && command -v chromium >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc chromium >/dev/null)

test-go:
	SENTINEL_FLB_SO=$(CURDIR)/$(FLB_SO) SENTINEL_FLB_HARNESS=$(CURDIR)/$(FLB_HARNESS) \
	  $(GO) test -count=1 -timeout 12m ./...

# The race detector on the concurrent core: the host's pipeline, the wire,
# the signer's state and the tap's delivery.
test-race:
	$(GO) test -race -count=1 -timeout 10m ./host/pipeline/ ./sdk/ ./plugins/filter/signer/ ./plugins/input/mcp_tap/...

# The outputs against independently written receivers (the OpenTelemetry
# Collector's splunkhecreceiver, Elastic's docappender test server), kept in
# their own module so their dependencies stay out of Sentinel's.
test-receivers:
	cd plugins/output/receivertest && $(GO) test -count=1 -timeout 10m ./...

chaos: build
	SENTINEL_CHAOS=1 $(GO) test -count=1 -timeout 10m -v ./test/chaos

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^sdk/internal/pb/')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

demo: build
	./examples/demo/run.sh

bench: build examples
	./examples/bench/run.sh

# Regenerating the wire code needs protoc (Debian: protobuf-compiler) and the Go plugins.
proto:
	command -v protoc >/dev/null || (apt-get update -qq && apt-get install -y -qq protobuf-compiler)
	GOBIN=$(TOOLS) $(GO) install $(PROTOC_GEN_GO)
	GOBIN=$(TOOLS) $(GO) install $(PROTOC_GEN_GO_GRPC)
	cd sdk/internal/pb && PATH=$(TOOLS):$$PATH protoc --go_out=. --go_opt=paths=source_relative \
	  --go-grpc_out=. --go-grpc_opt=paths=source_relative sentinel.proto

clean:
	rm -rf $(BIN) $(FLB_DIST) data examples/custom_filter/plugins/deny_tools examples/custom_filter/plugins/deny_tools.sha256
