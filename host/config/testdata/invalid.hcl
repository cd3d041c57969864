input "src" "in" {
  path    = "a.jsonl"
  colour  = "blue"
}

filter "nosuch" "x" {
  inputs = [input.src.in]
}

filter "tag" "a" {
  inputs = [input.src.missing]
  every  = "often"
}

filter "tag" "b" {
  inputs = [input.src.in]
  label  = "forbidden"
  batch {
    max_age = "soon"
  }
}

output "sink" "out" {
  inputs  = [filter.tag.b]
  timeout = 30
  isolate = true # an output may be kept out of a fused chain
}

filter "tag" "c" {
  inputs  = [input.src.in]
  isolate = "yes"
}

input "src" "second" {
  path    = "b.jsonl"
  isolate = true
}
