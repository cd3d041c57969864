# Fluent Bit output plugin (included from the top-level Makefile).
#   make fluentbit        dist/out_sentinel.so: every Sentinel output, and the
#                         audit pipeline, as one Fluent Bit Go plugin ("sentinel")
#   make fluentbit-test   loads the .so from a C harness the way Fluent Bit
#                         does and checks deliveries and return codes
#   make fluentbit-bench  records/s through the .so (file backend), for BENCHMARKS.md
# Needs a C compiler (cgo and the harness); Fluent Bit itself is not needed.

GO          ?= go
CC          ?= cc
FLB_DIST    := dist
FLB_SO      := $(FLB_DIST)/out_sentinel.so
FLB_HARNESS := $(FLB_DIST)/flb_harness

.PHONY: fluentbit fluentbit-harness fluentbit-test fluentbit-bench

fluentbit:
	@mkdir -p $(FLB_DIST)
	CGO_ENABLED=1 $(GO) build -buildmode=c-shared -ldflags '-s -w' -o $(FLB_SO) ./sdk/fluentbit/cmd/out_sentinel

fluentbit-harness:
	@mkdir -p $(FLB_DIST)
	$(CC) -O2 -Wall -Wextra -o $(FLB_HARNESS) sdk/fluentbit/testdata/harness.c -ldl -lpthread

fluentbit-test: fluentbit fluentbit-harness
	SENTINEL_FLB_SO=$(CURDIR)/$(FLB_SO) SENTINEL_FLB_HARNESS=$(CURDIR)/$(FLB_HARNESS) \
	  $(GO) test -count=1 -timeout 5m ./sdk/fluentbit/...

fluentbit-bench: fluentbit fluentbit-harness
	SENTINEL_FLB_SO=$(CURDIR)/$(FLB_SO) SENTINEL_FLB_HARNESS=$(CURDIR)/$(FLB_HARNESS) \
	  $(GO) run ./sdk/fluentbit/cmd/flbbench
