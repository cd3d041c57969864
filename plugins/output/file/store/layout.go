// Package store is Sentinel's write-once audit store: append-only JSONL
// segments, rotated by size and age, sealed on rotation and at shutdown
// (final checkpoint, segment hash, read-only mode), each segment's header
// chained to the previous seal, torn tails recovered after a crash, and
// retention that removes only expired sealed segments and says so.
//
// Layout of a store directory:
//
//	seg-00000001.jsonl   sealed segment (mode 0440)
//	seg-00000002.jsonl   active segment
//	checkpoints.log      every signed checkpoint, append-only; a seal's
//	                     checkpoint names its segment ("sentinel-seal N")
//	retention.log        the seal line of every segment removed by retention
//
// Lines of a framed segment: a header {"hdr":...}, then entry lines
// {"v":2,"seq":...} and checkpoint lines {"ckpt":...} from the signer (or
// plain record bodies when there is no signer), and a seal {"seal":...}.
package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sentinel-audit/sentinel/plugins/integrity"
)

const (
	segPrefix       = "seg-"
	segSuffix       = ".jsonl"
	CheckpointsFile = "checkpoints.log"
	RetentionFile   = "retention.log"
)

// SegmentPath is the file of segment n.
func SegmentPath(dir string, n int) string {
	return filepath.Join(dir, fmt.Sprintf("%s%08d%s", segPrefix, n, segSuffix))
}

// Segments lists the segment numbers present in dir, ascending.
func Segments(dir string) ([]int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, segPrefix) || !strings.HasSuffix(name, segSuffix) {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(name, segPrefix), segSuffix))
		if err != nil || n <= 0 {
			continue
		}
		out = append(out, n)
	}
	sort.Ints(out)
	return out, nil
}

// Header is the first line of a framed segment.
type Header struct {
	V        int       `json:"v"`
	Seg      int       `json:"seg"`
	Created  time.Time `json:"created"`
	PrevSeal string    `json:"prev_seal,omitempty"` // base64url SHA-256 of the previous segment's seal line
}

// Seal is the last line of a sealed segment.
type Seal struct {
	Seg     int              `json:"seg"`
	Lines   int              `json:"lines"`   // lines before the seal, header included
	Entries uint64           `json:"entries"` // signed entries in this segment
	SHA256  string           `json:"sha256"`  // base64url SHA-256 of the lines before the seal except entry lines (covered by Point's Merkle root)
	Sealed  time.Time        `json:"sealed"`
	Point   *integrity.Point `json:"point,omitempty"`
	Reason  string           `json:"reason"`
}

// Recovered is written after a torn tail was cut off at start-up.
type Recovered struct {
	Seg   int       `json:"seg"`
	Bytes int64     `json:"bytes"`
	At    time.Time `json:"at"`
}

type headerLine struct {
	Hdr Header `json:"hdr"`
}
type sealLine struct {
	Seal Seal `json:"seal"`
	// Sig is an Ed25519 signature (signing.key) over sealMessage, present
	// when the file output has keys.
	Sig string `json:"sig,omitempty"`
}

func sealMessage(s Seal) []byte {
	b, _ := json.Marshal(s)
	return append([]byte("sentinel/v1/seal\n"), b...)
}

type recoveredLine struct {
	Recovered Recovered `json:"recovered"`
}

// Line kinds of a stored line.
const (
	lineEntry = iota
	lineCheckpoint
	lineHeader
	lineSeal
	lineRecovered
	lineRetention
	linePlain
)

func classify(line []byte) int {
	switch {
	case integrity.IsEntryLine(line):
		return lineEntry
	case integrity.IsCheckpointLine(line):
		return lineCheckpoint
	case bytes.HasPrefix(line, []byte(`{"hdr":`)):
		return lineHeader
	case bytes.HasPrefix(line, []byte(`{"seal":`)):
		return lineSeal
	case bytes.HasPrefix(line, []byte(`{"recovered":`)):
		return lineRecovered
	case bytes.HasPrefix(line, []byte(`{"retention":`)):
		return lineRetention
	}
	return linePlain
}

// sealExtPrefix starts the extension line of a seal checkpoint:
// "sentinel-seal <segment>". It makes the seal's checkpoint differ from any
// other checkpoint of the same tree, so checkpoints.log records that the
// segment was sealed at that tree size.
const sealExtPrefix = "sentinel-seal "

func sealExtension(n int) string { return sealExtPrefix + strconv.Itoa(n) }

// sealedSegment returns the segment a seal checkpoint says was sealed.
func sealedSegment(c integrity.Checkpoint) (int, bool) {
	for _, e := range c.Extensions {
		if rest, ok := strings.CutPrefix(e, sealExtPrefix); ok {
			if n, err := strconv.Atoi(rest); err == nil && n > 0 {
				return n, true
			}
		}
	}
	return 0, false
}

func hashLine(line []byte) string {
	h := sha256.Sum256(line)
	return base64.RawURLEncoding.EncodeToString(h[:])
}
