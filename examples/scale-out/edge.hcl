# An edge host: runs next to the MCP servers of one machine, taps their
# traffic, redacts PII locally (raw secrets never leave the machine), and
# publishes the events to JetStream. Run one per machine:
#   sentinel run -c edge.hcl
sentinel {
  data_dir = "./data/edge"
}

# Streamable HTTP reverse proxy in front of the MCP server; stdio servers use
# `sentinel wrap -c edge.hcl -- <server command>` instead.
input "mcp_tap" "crm" {
  listen   = "127.0.0.1:7070"
  upstream = "http://127.0.0.1:3001/mcp"
}

filter "pii_tokenizer" "pii" {
  inputs   = [input.mcp_tap.crm]
  key_file = "/etc/sentinel/pii.key" # the same key on every machine keeps tokens joinable
}

output "nats" "bus" {
  inputs         = [filter.pii_tokenizer.pii]
  url            = "nats://nats-1.internal:4222"
  servers        = ["nats://nats-2.internal:4222", "nats://nats-3.internal:4222"]
  creds_file     = "/etc/sentinel/edge.creds"
  stream         = "MCP_AUDIT"
  subject_prefix = "mcp.audit"
  # The stream is created once by the operator (stream.json); edges only publish.
  create_stream = false

  # While NATS is unreachable, events wait on the edge's disk, not in memory.
  buffer {
    type     = "disk"
    max_size = "2GiB"
  }
  retry {
    max_elapsed = "0s" # retry until delivered
  }
}
