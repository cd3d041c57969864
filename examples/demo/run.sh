#!/usr/bin/env bash
# make demo: a real MCP client and server (github.com/modelcontextprotocol/go-sdk)
# talk through `sentinel wrap`; the tap's events flow through the PII tokenizer,
# the classifier and the signer into the tamper-evident store, which is then
# verified and summarised.
set -euo pipefail
cd "$(dirname "$0")/../.."
go build -o bin/crm-server ./examples/mcp/server
go build -o bin/crm-client ./examples/mcp/client
go build -o bin/demo-summary ./examples/demo/summary

cd examples/demo
rm -rf data
echo "== keys"
../../bin/sentinel keygen --out data/keys
echo
echo "== an MCP client calls a CRM server through sentinel wrap"
../../bin/crm-client -rounds 3 -- ../../bin/sentinel wrap -c pipeline.hcl -- ../../bin/crm-server -root ../..
echo
echo "== audit events in the store, per type"
../../bin/demo-summary data/audit
echo
echo "== one stored tool call, read back through verification (email and phone tokenized)"
../../bin/sentinel read --keys data/keys data/audit | grep -m1 '"lookup_customer"' | cut -c1-700
echo
echo "== verification of the store"
../../bin/sentinel verify --keys data/keys data/audit
