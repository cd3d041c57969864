package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// Plugin is the one contract every Sentinel plugin implements: the Go form of
// PlugPipe's process(context, config).
//
//   - input:  Process is a poll. The request batch is empty; the plugin blocks
//     until it has records or ctx is done, and returns the next batch with a
//     Seq of its choosing (an empty batch when ctx ends first). A finite input
//     returns ErrEndOfInput once drained. Inputs that need to know when their
//     records are safely delivered implement Acker.
//   - filter: batch in, batch out: modify, drop or add records; Rejected for bad data.
//   - output: deliver the batch. A nil error means every record not Rejected was
//     delivered; a RetryError asks for a retry; any other error fails the
//     remaining records for good (dead-lettered with the error as reason).
//
// The host calls Process of one instance from one goroutine, in order.
type Plugin interface {
	Process(ctx context.Context, in *Batch) (*Batch, error)
}

// Configurer binds the component's configuration once, before any Process.
type Configurer interface {
	Configure(ctx context.Context, cfg Config) error
}

// Validator checks a configuration without side effects. `sentinel validate`
// calls it; return FieldError to point at the offending argument. Configure
// should call it too.
type Validator interface {
	Validate(cfg Config) error
}

// HealthChecker reports whether the plugin can do its work (a destination reachable).
type HealthChecker interface {
	Health(ctx context.Context) error
}

// Closer flushes and releases resources at shutdown. It may be called twice.
type Closer interface {
	Close(ctx context.Context) error
}

// Invoker answers PlugPipe-style operations (`get_status`, `get_audit_summary`, ...).
// The result is marshalled to JSON and merged into {"success": true, ...}.
type Invoker interface {
	Invoke(ctx context.Context, operation string, args json.RawMessage) (any, error)
}

// Acker is implemented by inputs that commit progress only once their records
// are delivered by every output they route to (or dead-lettered): the jsonl
// input's offset, the http input's 202, a NATS message ack.
type Acker interface {
	Ack(ctx context.Context, seqs []uint64)
}

// ErrUnknownOperation is returned by Invoke for an operation it does not know.
type ErrUnknownOperation string

func (e ErrUnknownOperation) Error() string { return fmt.Sprintf("unknown operation %q", string(e)) }

// Kind is a plugin's place in a pipeline.
type Kind string

const (
	KindInput  Kind = "input"
	KindFilter Kind = "filter"
	KindOutput Kind = "output"
)

// Definition describes a plugin: who it is, what it takes, and how to build it.
// One Definition drives HCL decoding, `sentinel plugins describe`, the
// plugin's README table and its Fluent Bit keys.
type Definition struct {
	Name        string `json:"name"`
	Kind        Kind   `json:"kind"`
	Version     string `json:"version"`
	Summary     string `json:"summary"`
	Description string `json:"description,omitempty"`
	// Config is the schema of the component's HCL block (host-owned arguments excluded).
	Config Schema `json:"config"`
	// Operations lists the Invoke operations beyond the built-in ones.
	Operations []Operation `json:"operations,omitempty"`
	// Tick, for filters, asks the host for an empty batch at this interval when
	// idle, so that time-driven work (checkpoints, quiet-tap alarms) still runs.
	Tick Duration `json:"tick,omitempty"`
	// New returns a fresh, unconfigured instance.
	New func() Plugin `json:"-"`

	fusedFrom []*Definition // set by Fuse
}

// Operation documents one Invoke operation.
type Operation struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// Check reports a Definition that cannot work, so mistakes fail at start-up.
func (d *Definition) Check() error {
	if d.fusedFrom != nil {
		for _, m := range d.fusedFrom {
			if err := m.Check(); err != nil {
				return err
			}
		}
		return nil
	}
	switch {
	case d.Name == "" || strings.ContainsAny(d.Name, " ./\\"+FuseSeparator):
		return fmt.Errorf("plugin definition: bad name %q", d.Name)
	case d.Kind != KindInput && d.Kind != KindFilter && d.Kind != KindOutput:
		return fmt.Errorf("plugin %s: bad kind %q", d.Name, d.Kind)
	case d.New == nil:
		return fmt.Errorf("plugin %s: no constructor", d.Name)
	}
	return d.Config.check(d.Name)
}

// Config is what Configure receives: the component's decoded arguments (as
// JSON, defaults applied), its name, and a private directory for state.
type Config struct {
	Name    string
	DataDir string
	Raw     json.RawMessage
	Logger  hclog.Logger
	// DryRun is set when the host only validates; touch nothing.
	DryRun bool
}

// Decode unmarshals the arguments into v, a struct whose json tags match the schema.
func (c Config) Decode(v any) error {
	if len(c.Raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(c.Raw, v); err != nil {
		return fmt.Errorf("decode config: %w", err)
	}
	return nil
}

// Log returns the configured logger, or a discarding one.
func (c Config) Log() hclog.Logger {
	if c.Logger == nil {
		return hclog.NewNullLogger()
	}
	return c.Logger
}

// Settings is a plugin's configuration struct that fills its own defaults
// and checks itself.
type Settings interface {
	Defaults()
	Validate() error
}

// DecodeSettings decodes cfg into a new T, fills its defaults and validates
// it: what a plugin's Validate and Configure both begin with.
//
//	func (p *P) Validate(cfg sdk.Config) error { _, err := sdk.DecodeSettings[Config](cfg); return err }
func DecodeSettings[T any, PT interface {
	*T
	Settings
}](cfg Config) (*T, error) {
	var c T
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	PT(&c).Defaults()
	if err := PT(&c).Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}
