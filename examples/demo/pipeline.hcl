# Demo pipeline: `sentinel wrap -c examples/demo/pipeline.hcl -- <server>` runs it inside the wrapper.
# MCP events flow mcp_tap → pii_tokenizer → classifier → signer → file (tamper-evident WORM store).

sentinel {
  data_dir  = "./data"
  log_level = "warn"
}

input "mcp_tap" "crm" {
  server = "crm-demo"
}

filter "pii_tokenizer" "pii" {
  inputs = [input.mcp_tap.crm]
}

filter "classifier" "cls" {
  inputs = [filter.pii_tokenizer.pii]
}

filter "signer" "sign" {
  inputs = [filter.classifier.cls]
  keys   = "./data/keys"
}

output "file" "store" {
  inputs = [filter.signer.sign]
  path   = "./data/audit"
}
