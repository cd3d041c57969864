# A pool host: one of several identical hosts that share the durable
# consumer "siem-pool". JetStream spreads the events across them; a host that
# dies leaves its un-acked events to the others. Each pool host keeps its own
# signed store (its own keys: one chain per host) and feeds the SIEMs.
#   sentinel run -c pool.hcl
sentinel {
  data_dir = "./data/pool"
}

input "nats" "bus" {
  url             = "nats://nats-1.internal:4222"
  servers         = ["nats://nats-2.internal:4222", "nats://nats-3.internal:4222"]
  creds_file      = "/etc/sentinel/pool.creds"
  stream          = "MCP_AUDIT"
  durable         = "siem-pool"
  filter_subjects = ["mcp.audit.>"]
  batch           = 512
  ack_wait        = "2m"
  max_ack_pending = 20000
}

filter "classifier" "cls" {
  inputs     = [input.nats.bus]
  frameworks = ["sox", "gdpr", "hipaa"]
}

# SIEMs fan out before the signer: they receive the plain event.
output "splunk_hec" "soc" {
  inputs   = [filter.classifier.cls]
  endpoint = "https://splunk.internal:8088"
  token    = env("SPLUNK_HEC_TOKEN")
  index    = "mcp_audit"
  buffer {
    type     = "disk"
    max_size = "4GiB"
  }
}

output "elasticsearch" "search" {
  inputs    = [filter.classifier.cls]
  endpoints = ["https://es.internal:9200"]
  api_key   = env("ES_API_KEY")
  buffer {
    type     = "disk"
    max_size = "4GiB"
  }
}

filter "signer" "chain" {
  inputs = [filter.classifier.cls]
  keys   = "/etc/sentinel/keys"
}

output "file" "store" {
  inputs = [filter.signer.chain]
  path   = "./data/pool/audit"
  keys   = "/etc/sentinel/keys"
}
