// Package catalog finds plugins (bundled in the sentinel binary, or
// executables in plugins_dir), verifies pinned ones, and starts them as
// out-of-process go-plugin servers.
package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/sentinel-audit/sentinel/host/config"
	"github.com/sentinel-audit/sentinel/sdk"
)

// BaseEnv is what every plugin sees of the host's environment; anything else,
// secrets above all, reaches a plugin only through `plugin "x" { env = [...] }`.
var BaseEnv = []string{"PATH", "HOME", "USER", "TMPDIR", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR",
	"GOGC", "GOMEMLIMIT", "GOMAXPROCS", "GODEBUG"}

// Catalog is the set of plugins a host can run.
type Catalog struct {
	builtin map[string]*sdk.Definition
	self    string // the sentinel executable, which serves bundled plugins
	logger  hclog.Logger

	// Stdout receives what plugins print (the stdout output); os.Stdout by default.
	Stdout   io.Writer
	mu       sync.Mutex
	stdoutMu sync.Mutex
	external map[string]*sdk.Definition // by path+hash
}

// New builds a catalog of the bundled plugins.
func New(builtin []*sdk.Definition, logger hclog.Logger) (*Catalog, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	c := &Catalog{builtin: map[string]*sdk.Definition{}, self: self, logger: logger, Stdout: os.Stdout, external: map[string]*sdk.Definition{}}
	for _, d := range builtin {
		if err := d.Check(); err != nil {
			return nil, err
		}
		key := builtinKey(d.Kind, d.Name)
		if _, dup := c.builtin[key]; dup {
			return nil, fmt.Errorf("two bundled %s plugins are named %q", d.Kind, d.Name)
		}
		c.builtin[key] = d
	}
	return c, nil
}

// An input and an output may share a name (nats): bundled plugins are keyed by both.
func builtinKey(kind sdk.Kind, name string) string { return string(kind) + "/" + name }

// Builtin returns a bundled plugin's definition.
func (c *Catalog) Builtin(kind sdk.Kind, name string) (*sdk.Definition, bool) {
	d, ok := c.builtin[builtinKey(kind, name)]
	return d, ok
}

// Find resolves a plugin named on the command line: "name", or "kind/name"
// where an input and an output share the name.
func (c *Catalog) Find(ref string) (*sdk.Definition, error) {
	if kind, name, ok := strings.Cut(ref, "/"); ok {
		if d, ok := c.Builtin(sdk.Kind(kind), name); ok {
			return d, nil
		}
		return nil, fmt.Errorf("no bundled %s plugin %q (see `sentinel plugins list`)", kind, name)
	}
	var found []*sdk.Definition
	for _, d := range c.builtin {
		if d.Name == ref {
			found = append(found, d)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("no bundled plugin %q (see `sentinel plugins list`)", ref)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("%q is both an input and an output plugin: say input/%s or output/%s", ref, ref, ref)
}

// Builtins lists the bundled plugins by kind and name.
func (c *Catalog) Builtins() []*sdk.Definition {
	out := make([]*sdk.Definition, 0, len(c.builtin))
	for _, d := range c.builtin {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return kindOrder(out[i].Kind) < kindOrder(out[j].Kind)
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func kindOrder(k sdk.Kind) int {
	return map[sdk.Kind]int{sdk.KindInput: 0, sdk.KindFilter: 1, sdk.KindOutput: 2}[k]
}

// external plugin location: a pin's path, else <plugins_dir>/<name>.
func (c *Catalog) externalPath(name string, cfg *config.Config) (string, *config.PluginPin) {
	pin := cfg.Plugins[name]
	if pin != nil && pin.Path != "" {
		p := pin.Path
		if !filepath.IsAbs(p) {
			p = filepath.Join(cfg.Dir, p)
		}
		return p, pin
	}
	if cfg.PluginsDir == "" {
		return "", pin
	}
	return filepath.Join(cfg.PluginsDir, name), pin
}

// Lookup implements config.Catalog.
func (c *Catalog) Lookup(kind sdk.Kind, name string, cfg *config.Config) (*sdk.Definition, error) {
	def, err := c.lookup(kind, name, cfg)
	if err != nil {
		return nil, err
	}
	if def.Kind != kind {
		return nil, fmt.Errorf("%s is a %s plugin, not a %s; declare it as %s %q", name, def.Kind, kind, def.Kind, name)
	}
	return def, nil
}

func (c *Catalog) lookup(kind sdk.Kind, name string, cfg *config.Config) (*sdk.Definition, error) {
	path, pin := c.externalPath(name, cfg)
	if d, ok := c.Builtin(kind, name); ok && (pin == nil || pin.Path == "") {
		return d, nil
	}
	if path == "" {
		return nil, fmt.Errorf("no bundled plugin %q and no plugins_dir", name)
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no bundled plugin %q and no executable at %s", name, path)
	}
	sum, err := verify(path, pin)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	def, ok := c.external[path+"@"+sum]
	c.mu.Unlock()
	if ok {
		return def, nil
	}
	p, err := c.startCmd(context.Background(), exec.Command(path), name, pin, cfg)
	if err != nil {
		return nil, fmt.Errorf("start %s to describe it: %w", path, err)
	}
	defer p.Kill()
	def, err = p.Conn.Describe(context.Background())
	if err != nil {
		return nil, fmt.Errorf("describe %s: %w", path, err)
	}
	if def.Name != name {
		return nil, fmt.Errorf("%s describes itself as %q, not %q", path, def.Name, name)
	}
	c.mu.Lock()
	c.external[path+"@"+sum] = def
	c.mu.Unlock()
	return def, nil
}

// verify computes the file's SHA-256 and compares it with the pin, if any.
func verify(path string, pin *config.PluginPin) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if pin != nil && pin.SHA256 != "" && pin.SHA256 != sum {
		return "", fmt.Errorf("plugin %s: SHA-256 mismatch for %s: pinned %s at %s, file has %s; refusing to run it",
			pin.Name, path, pin.SHA256, pin.Range, sum)
	}
	return sum, nil
}

// Names implements config.Catalog.
func (c *Catalog) Names(kind sdk.Kind, cfg *config.Config) []string {
	var out []string
	for _, d := range c.builtin {
		if d.Kind == kind {
			out = append(out, d.Name)
		}
	}
	return out
}

// Validate implements config.Catalog: bundled plugins validate in process,
// external ones through a dry-run Configure in their own process.
func (c *Catalog) Validate(comp *config.Component, cfg *config.Config) error {
	ctx := context.Background()
	if d, ok := c.Builtin(comp.Kind, comp.Plugin); ok && (cfg.Plugins[comp.Plugin] == nil || cfg.Plugins[comp.Plugin].Path == "") {
		return sdk.LocalConn(d, c.logger).Configure(ctx, comp.Name, comp.DataDir, comp.Config, true)
	}
	p, err := c.Start(ctx, comp, cfg)
	if err != nil {
		return err
	}
	defer p.Kill()
	return p.Conn.Configure(ctx, comp.Name, comp.DataDir, comp.Config, true)
}

// Process is a running plugin process.
type Process struct {
	Conn   sdk.Conn
	client *plugin.Client
}

// Kill stops the process (go-plugin asks politely first).
func (p *Process) Kill() { p.client.Kill() }

// Exited reports whether the process is gone.
func (p *Process) Exited() bool { return p.client.Exited() }

// Start launches the component's plugin in its own process.
func (c *Catalog) Start(ctx context.Context, comp *config.Component, cfg *config.Config) (*Process, error) {
	if comp.Def != nil && comp.Def.FusedFrom() != nil {
		return c.startFused(ctx, comp, comp.Def.FusedFrom(), cfg)
	}
	path, pin := c.externalPath(comp.Plugin, cfg)
	var cmd *exec.Cmd
	if c.bundled(comp, cfg) {
		cmd = exec.Command(c.self, "plugin", "serve", comp.Plugin, string(comp.Kind))
	} else {
		if _, err := verify(path, pin); err != nil { // again: the file may have changed since validation
			return nil, err
		}
		cmd = exec.Command(path)
	}
	return c.startCmd(ctx, cmd, comp.ID(), pin, cfg)
}

// CanFuse says whether comp may share a process with other filters (an
// output as the chain's last stage): only bundled plugins can, as one
// binary serves them all.
func (c *Catalog) CanFuse(comp *config.Component, cfg *config.Config) bool {
	return (comp.Kind == sdk.KindFilter || comp.Kind == sdk.KindOutput) && c.bundled(comp, cfg)
}

// bundled says whether comp runs from this binary: built in, and not pinned
// to a plugin file of its own.
func (c *Catalog) bundled(comp *config.Component, cfg *config.Config) bool {
	_, pin := c.externalPath(comp.Plugin, cfg)
	_, ok := c.Builtin(comp.Kind, comp.Plugin)
	return ok && (pin == nil || pin.Path == "")
}

// startFused serves a fused chain of bundled plugins in one process; it sees
// the environment variables any of them was allowed.
func (c *Catalog) startFused(ctx context.Context, comp *config.Component, members []*sdk.Definition, cfg *config.Config) (*Process, error) {
	merged := &config.PluginPin{Name: comp.Plugin}
	for _, m := range members {
		n := m.Name
		if _, ok := c.Builtin(m.Kind, n); !ok {
			return nil, fmt.Errorf("no bundled %s %q to fuse", m.Kind, n)
		}
		if pin := cfg.Plugins[n]; pin != nil {
			merged.Env = append(merged.Env, pin.Env...)
		}
	}
	cmd := exec.Command(c.self, "plugin", "serve", comp.Plugin, string(comp.Kind))
	return c.startCmd(ctx, cmd, comp.ID(), merged, cfg)
}

func (c *Catalog) startCmd(_ context.Context, cmd *exec.Cmd, name string, pin *config.PluginPin, cfg *config.Config) (*Process, error) {
	cmd.Env = pluginEnv(pin)
	// Own process group: a terminal's Ctrl-C reaches only the host, which
	// drains and then closes its plugins. Pdeathsig: plugins die with the host.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if cfg != nil && cfg.DataDir != "" {
		cmd.Dir = cfg.Dir
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: sdk.VersionedPlugins(nil),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           c.logger.Named(name),
		SkipHostEnv:      true,
		GRPCDialOptions:  sdk.GRPCDialOptions(),
		SyncStdout:       &lineWriter{mu: &c.stdoutMu, out: c.Stdout},
		SyncStderr:       os.Stderr,
		StartTimeout:     30 * time.Second,
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		return nil, err
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		client.Kill()
		return nil, err
	}
	return &Process{Conn: raw.(sdk.Conn), client: client}, nil
}

func pluginEnv(pin *config.PluginPin) []string {
	allowed := append([]string{}, BaseEnv...)
	if pin != nil {
		allowed = append(allowed, pin.Env...)
	}
	var env []string
	for _, k := range allowed {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	for _, kv := range os.Environ() { // the seed's feature toggles are configuration, not secrets
		if strings.HasPrefix(kv, "SENTINEL_FEATURE_") || strings.HasPrefix(kv, "COMPLIANCE_FRAMEWORK=") ||
			strings.HasPrefix(kv, "SENTINEL_CPUPROFILE_") {
			env = append(env, kv)
		}
	}
	return env
}

// DetachStdin moves the process's stdin to a new descriptor and puts
// /dev/null on descriptor 0, so that plugins (which go-plugin always starts
// with the host's stdin) can never read it. `sentinel wrap` calls it first:
// there, stdin is the MCP client's byte stream and belongs to the wrapper alone.
func DetachStdin() (*os.File, error) {
	fd, err := syscall.Dup(0)
	if err != nil {
		return nil, fmt.Errorf("dup stdin: %w", err)
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer null.Close()
	if err := syscall.Dup2(int(null.Fd()), 0); err != nil {
		return nil, fmt.Errorf("replace stdin: %w", err)
	}
	syscall.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), "stdin"), nil
}
