package store

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"os"

	"github.com/buger/jsonparser"
	"golang.org/x/mod/sumdb/note"

	"github.com/sentinel-audit/sentinel/plugins/integrity"
)

// Prove builds an inclusion proof for the event with eventID against the
// newest checkpoint in the store that covers it and verifies with pub. Run
// Verify first: Prove only reads.
func Prove(dir, eventID string, pub note.Verifier) (*integrity.InclusionProof, error) {
	segs, err := Segments(dir)
	if err != nil {
		return nil, fmt.Errorf("read store: %w", err)
	}
	if len(segs) == 0 || segs[0] != 1 {
		return nil, fmt.Errorf("proofs need the store from its first segment")
	}
	var leaves [][]byte
	index := int64(-1)
	var entry []byte
	var ckpt []byte
	var ckSize uint64
	for _, n := range segs {
		f, err := os.Open(SegmentPath(dir, n))
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			line := sc.Bytes()
			switch classify(line) {
			case lineEntry:
				if index < 0 {
					var e integrity.Entry
					if integrity.ParseEntryLine(line, &e) == nil && e.Kind == integrity.KindEvent {
						if id, _ := jsonparser.GetString(e.Event, "event_id"); id == eventID {
							index, entry = int64(len(leaves)), append([]byte(nil), line...)
						}
					}
				}
				leaves = append(leaves, integrity.LeafHash(line))
			case lineCheckpoint:
				if index < 0 {
					continue
				}
				msg, err := integrity.ParseCheckpointLine(line)
				if err != nil {
					continue
				}
				if c, err := integrity.OpenCheckpoint(msg, pub); err == nil && c.Size > uint64(index) && c.Size <= uint64(len(leaves)) {
					ckpt, ckSize = msg, c.Size
				}
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("read segment %d: %w", n, err)
		}
	}
	if index < 0 {
		return nil, fmt.Errorf("no event with event_id %q in the store", eventID)
	}
	if ckpt == nil {
		return nil, fmt.Errorf("event %q is not yet covered by a signed checkpoint", eventID)
	}
	path, err := integrity.BuildInclusion(leaves, uint64(index), ckSize)
	if err != nil {
		return nil, err
	}
	p := &integrity.InclusionProof{EventID: eventID, LeafIndex: uint64(index), Entry: string(bytes.TrimSpace(entry)), Checkpoint: string(ckpt)}
	for _, h := range path {
		p.Proof = append(p.Proof, base64.StdEncoding.EncodeToString(h))
	}
	return p, nil
}
