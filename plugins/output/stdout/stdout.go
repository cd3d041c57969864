// Package stdout is the "stdout" output: every event body as a JSON line on
// standard output, for debugging pipelines and for piping into other tools.
package stdout

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/sentinel-audit/sentinel/sdk"
)

// Definition is the stdout output plugin.
var Definition = &sdk.Definition{
	Name:    "stdout",
	Kind:    sdk.KindOutput,
	Version: "0.1.0",
	Summary: "Writes each event body as a JSON line (or indented JSON) to standard output.",
	Description: "For debugging a pipeline or piping events into jq and other tools. Bodies are written " +
		"as they are, compacted onto one line when they span several; a body that is not valid JSON is " +
		"dead-lettered.",
	Config: configSchema,
	New:    func() sdk.Plugin { return &Output{} },
}

// Output is one stdout output instance.
type Output struct {
	cfg Config
	// Out is where lines go. Nil means os.Stdout as it is at Configure: a
	// served plugin's os.Stdout is replaced by go-plugin after New and before
	// Configure with the pipe it relays to the host, so it must not be read
	// earlier. Tests set it to a buffer.
	Out io.Writer

	mu  sync.Mutex // Process is serial; Close may race with it
	w   *bufio.Writer
	tmp bytes.Buffer
}

// Validate checks the arguments.
func (o *Output) Validate(cfg sdk.Config) error {
	var c Config
	if err := cfg.Decode(&c); err != nil {
		return err
	}
	c.applyDefaults()
	return c.Validate()
}

// Configure binds the format and the writer.
func (o *Output) Configure(_ context.Context, cfg sdk.Config) error {
	if err := cfg.Decode(&o.cfg); err != nil {
		return err
	}
	o.cfg.applyDefaults()
	if err := o.cfg.Validate(); err != nil {
		return err
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	o.w = bufio.NewWriterSize(o.Out, 64<<10)
	return nil
}

// Process writes every record of the batch and flushes once.
func (o *Output) Process(_ context.Context, in *sdk.Batch) (*sdk.Batch, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.w == nil { // used without Configure
		o.cfg.applyDefaults()
		if o.Out == nil {
			o.Out = os.Stdout
		}
		o.w = bufio.NewWriterSize(o.Out, 64<<10)
	}
	out := &sdk.Batch{}
	for i, r := range in.Records {
		line, err := o.format(r.Body)
		if err != nil {
			out.Reject(i, fmt.Sprintf("stdout: body is not valid JSON: %v", err))
			continue
		}
		o.w.Write(line)
		o.w.WriteByte('\n')
	}
	// Writing to a closed or broken stdout will not heal by retrying.
	if err := o.w.Flush(); err != nil {
		return nil, fmt.Errorf("stdout: write: %w", err)
	}
	return out, nil
}

// format returns the line for body, reusing one scratch buffer.
func (o *Output) format(body []byte) ([]byte, error) {
	if o.cfg.Format == formatPretty {
		o.tmp.Reset()
		if err := json.Indent(&o.tmp, body, "", "  "); err != nil {
			return nil, err
		}
		return o.tmp.Bytes(), nil
	}
	if bytes.IndexByte(body, '\n') < 0 && bytes.IndexByte(body, '\r') < 0 {
		if !json.Valid(body) {
			return nil, fmt.Errorf("invalid JSON")
		}
		return body, nil
	}
	o.tmp.Reset()
	if err := json.Compact(&o.tmp, body); err != nil {
		return nil, err
	}
	return o.tmp.Bytes(), nil
}

// Close flushes anything buffered.
func (o *Output) Close(context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.w == nil {
		return nil
	}
	if err := o.w.Flush(); err != nil {
		return fmt.Errorf("stdout: flush: %w", err)
	}
	return nil
}

var (
	_ sdk.Plugin     = (*Output)(nil)
	_ sdk.Configurer = (*Output)(nil)
	_ sdk.Validator  = (*Output)(nil)
	_ sdk.Closer     = (*Output)(nil)
)
