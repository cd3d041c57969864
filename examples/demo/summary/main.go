// Command summary prints how many audit events of each type a Sentinel file
// store (or any directory of JSONL files) holds. It finds the event inside
// signer entry lines ({"ev": {...}}) as well as in plain record lines.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: summary STORE_DIR")
		os.Exit(2)
	}
	counts := map[string]int{}
	total := 0
	err := filepath.WalkDir(os.Args[1], func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".jsonl") {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			var line map[string]json.RawMessage
			if json.Unmarshal(sc.Bytes(), &line) != nil {
				continue
			}
			if typ := eventType(line); typ != "" {
				counts[typ]++
				total++
			}
		}
		return sc.Err()
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "summary:", err)
		os.Exit(1)
	}
	types := make([]string, 0, len(counts))
	for t := range counts {
		types = append(types, t)
	}
	sort.Strings(types)
	fmt.Printf("%-32s %8s\n", "event type", "events")
	for _, t := range types {
		fmt.Printf("%-32s %8d\n", t, counts[t])
	}
	fmt.Printf("%-32s %8d\n", "total", total)
	if total == 0 {
		os.Exit(1)
	}
}

// eventType reads event_type from a record line or from the event nested in
// a signer entry ("ev") or another wrapper object.
func eventType(line map[string]json.RawMessage) string {
	var s string
	if raw, ok := line["event_type"]; ok && json.Unmarshal(raw, &s) == nil {
		return s
	}
	for _, k := range []string{"ev", "event", "body", "record"} {
		var inner map[string]json.RawMessage
		if raw, ok := line[k]; ok && json.Unmarshal(raw, &inner) == nil {
			if raw, ok := inner["event_type"]; ok && json.Unmarshal(raw, &s) == nil {
				return s
			}
		}
	}
	return ""
}
