# A pipeline with a custom filter plugin loaded from plugins_dir and pinned
# by SHA-256. `make examples` builds the plugin and writes its checksum;
# in production, paste the literal hash here instead of reading a file.
sentinel {
  data_dir    = "./data"
  plugins_dir = "./plugins"
}

plugin "deny_tools" {
  sha256 = file("plugins/deny_tools.sha256")
}

input "jsonl" "events" {
  paths = ["testdata/events.jsonl"]
}

filter "deny_tools" "guard" {
  inputs = [input.jsonl.events]
  deny   = ["shell_*", "delete_file"]
  tags   = { reviewed_by = "deny_tools" }
}

output "file" "kept" {
  inputs = [filter.deny_tools.guard]
  path   = "./data/kept"
  format = "jsonl"
}
