# The audit chain run inside Fluent Bit by the sentinel output's `pipeline` key.
# Keys: `sentinel keygen --out /etc/sentinel/keys`; PII key: `openssl rand -hex 32`.
sentinel {
  data_dir = "/var/lib/sentinel/fluent-bit-pipeline"
}

# Receives what Fluent Bit flushes to this output.
input "fluentbit" "in" {}

filter "pii_tokenizer" "pii" {
  inputs   = [input.fluentbit.in]
  key_file = "/etc/sentinel/pii.key"
}

filter "classifier" "cls" {
  inputs     = [filter.pii_tokenizer.pii]
  frameworks = ["soc2", "gdpr"]
}

filter "signer" "sig" {
  inputs = [filter.classifier.cls]
  keys   = "/etc/sentinel/keys"
}

output "file" "store" {
  inputs = [filter.signer.sig]
  path   = "/var/lib/sentinel/audit-signed"
  keys   = "/etc/sentinel/keys"
}
