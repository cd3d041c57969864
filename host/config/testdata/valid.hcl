sentinel {
  data_dir = "./state"
}

input "src" "in" {
  path = file("path.txt")
}

filter "tag" "a" {
  inputs = [input.src.in]
  label  = env("SENTINEL_TEST_LABEL", "fallback")
  batch {
    max_records = 64
    max_age     = "50ms"
  }
}

filter "tag" "b" {
  inputs = [input.src.in]
}

output "sink" "out" {
  inputs = [filter.tag.a, filter.tag.b]
  buffer {
    type     = "disk"
    max_size = "2GiB"
  }
  retry {
    max_elapsed = "1h"
  }
}
