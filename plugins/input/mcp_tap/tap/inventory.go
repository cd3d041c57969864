package tap

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
)

// Inventory remembers a hash of every tool definition each server has listed,
// to catch a definition that changes under a known name (a rug pull). It is a
// JSON file shared, under an flock, by every wrapper and proxy using the same
// data directory; with no path it lives in memory.
type Inventory struct {
	path string
	mu   sync.Mutex
	mem  map[string]map[string]string // server → tool → hash
}

// ToolChange is one difference between a listing and what was known.
type ToolChange struct {
	Kind    string // baseline, added, changed, removed
	Tool    string
	OldHash string
	NewHash string
	Count   int // for baseline: tools recorded
	// Definitions are the tool definitions the change is about (the new one
	// of an added or changed tool, every tool of a baseline), each cut to
	// maxDefinitionBytes: what a poisoning detector downstream must read,
	// since a hash alone cannot show hidden instructions.
	Definitions []json.RawMessage
}

// maxDefinitionBytes bounds one tool definition carried in an event. A
// longer one keeps its name and the start of its description.
const maxDefinitionBytes = 16 << 10

// carried returns def as an event carries it.
func carried(def json.RawMessage) json.RawMessage {
	if len(def) <= maxDefinitionBytes {
		return def
	}
	var t struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	_ = json.Unmarshal(def, &t)
	if len(t.Description) > maxDefinitionBytes/2 {
		t.Description = strings.ToValidUTF8(t.Description[:maxDefinitionBytes/2], "")
	}
	b, _ := json.Marshal(map[string]any{"name": t.Name, "description": t.Description, "truncated_from_bytes": len(def)})
	return b
}

// OpenInventory uses the file at path ("" for memory only).
func OpenInventory(path string) *Inventory {
	return &Inventory{path: path, mem: map[string]map[string]string{}}
}

// HashTool hashes a tool definition in canonical form (keys sorted, no
// insignificant space), so re-encoding by another SDK does not look like a change.
func HashTool(def json.RawMessage) (name, hash string, err error) {
	var v any
	d := json.NewDecoder(bytes.NewReader(def))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return "", "", err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return "", "", errors.New("tool definition is not an object")
	}
	name, _ = obj["name"].(string)
	canon, err := json.Marshal(v)
	if err != nil {
		return "", "", err
	}
	sum := sha256.Sum256(canon)
	return name, hex.EncodeToString(sum[:]), nil
}

// Update compares a tools/list page with what is known of server and records
// it. complete says the page is the whole list (no cursors), so missing tools
// count as removed.
func (inv *Inventory) Update(server string, defs []json.RawMessage, complete bool) ([]ToolChange, error) {
	seen := make(map[string]string, len(defs))
	raw := make(map[string]json.RawMessage, len(defs))
	var valid []json.RawMessage // the definitions with a name, in the server's order
	for _, d := range defs {
		name, h, err := HashTool(d)
		if err != nil || name == "" {
			continue
		}
		seen[name], raw[name] = h, d
		valid = append(valid, d)
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	unlock, err := inv.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := inv.load(); err != nil {
		return nil, err
	}
	known, ok := inv.mem[server]
	var changes []ToolChange
	if !ok {
		inv.mem[server] = seen
		base := ToolChange{Kind: "baseline", Count: len(seen)}
		for _, d := range valid {
			base.Definitions = append(base.Definitions, carried(d))
		}
		changes = append(changes, base)
	} else {
		names := make([]string, 0, len(seen))
		for n := range seen {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			switch old, had := known[n]; {
			case !had:
				changes = append(changes, ToolChange{Kind: "added", Tool: n, NewHash: seen[n], Definitions: []json.RawMessage{carried(raw[n])}})
			case old != seen[n]:
				changes = append(changes, ToolChange{Kind: "changed", Tool: n, OldHash: old, NewHash: seen[n], Definitions: []json.RawMessage{carried(raw[n])}})
			}
			known[n] = seen[n]
		}
		if complete {
			for n, old := range known {
				if _, still := seen[n]; !still {
					changes = append(changes, ToolChange{Kind: "removed", Tool: n, OldHash: old})
					delete(known, n)
				}
			}
		}
	}
	if len(changes) == 0 {
		return nil, nil
	}
	return changes, inv.save()
}

func (inv *Inventory) lock() (func(), error) {
	if inv.path == "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(filepath.Dir(inv.path), 0o700); err != nil {
		return nil, fmt.Errorf("tool inventory: %w", err)
	}
	f, err := os.OpenFile(inv.path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("tool inventory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("tool inventory: lock: %w", err)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

type inventoryFile struct {
	Servers map[string]map[string]string `json:"servers"`
}

func (inv *Inventory) load() error {
	if inv.path == "" {
		return nil
	}
	b, err := os.ReadFile(inv.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("tool inventory: %w", err)
	}
	var f inventoryFile
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("tool inventory %s: %w", inv.path, err)
	}
	if f.Servers != nil {
		inv.mem = f.Servers // another process may have learnt more: its file wins
	}
	return nil
}

func (inv *Inventory) save() error {
	if inv.path == "" {
		return nil
	}
	b, err := json.MarshalIndent(inventoryFile{Servers: inv.mem}, "", " ")
	if err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.%d.tmp", inv.path, os.Getpid())
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("tool inventory: %w", err)
	}
	return os.Rename(tmp, inv.path)
}

// inventory diffs a successful tools/list result. Called with s.mu held.
func (s *Session) inventory(pd *pending, res *result, now time.Time) {
	inv := s.t.cfg.Inventory
	if inv == nil {
		return
	}
	server := s.serverNameLocked()
	changes, err := inv.Update(server, res.Tools, !pd.listCursor && res.NextCursor == nil)
	if err != nil {
		ev := s.baseLocked(sdk.EventCompliance, SeverityMedium, pd.dir, pd.method, now)
		ev.Reason, ev.Error = "tool_inventory_unavailable", err.Error()
		s.t.emit(ev)
		return
	}
	for _, c := range changes {
		ev := s.baseLocked(sdk.EventSecurityThreats, SeverityInfo, pd.dir, pd.method, now)
		ev.RequestID = idString(pd.id)
		switch c.Kind {
		case "baseline":
			ev.Reason = "tool_inventory_baseline"
			ev.Details = map[string]any{"tools": c.Count, "definitions": c.Definitions}
		case "added":
			ev.Reason = "tool_added"
			ev.Details = map[string]any{"new_hash": c.NewHash, "definition": c.Definitions[0]}
		case "changed":
			ev.Severity, ev.Reason = SeverityHigh, "tool_definition_changed"
			ev.Details = map[string]any{"old_hash": c.OldHash, "new_hash": c.NewHash, "threat": "rug_pull", "definition": c.Definitions[0]}
		case "removed":
			ev.Severity, ev.Reason = SeverityLow, "tool_removed"
			ev.Details = map[string]any{"old_hash": c.OldHash}
		}
		ev.ToolName, ev.ToolNameAttr = c.Tool, c.Tool
		s.t.emit(ev)
	}
}
