package pipeline

import (
	"context"
	"fmt"

	"github.com/hashicorp/go-hclog"

	"github.com/sentinel-audit/sentinel/host/catalog"
	"github.com/sentinel-audit/sentinel/host/config"
	"github.com/sentinel-audit/sentinel/sdk"
)

// CatalogLauncher runs every plugin in its own process.
type CatalogLauncher struct {
	Catalog *catalog.Catalog
	Config  *config.Config
}

func (l CatalogLauncher) Launch(ctx context.Context, comp *config.Component) (Proc, error) {
	p, err := l.Catalog.Start(ctx, comp, l.Config)
	if err != nil {
		return nil, err
	}
	return processProc{p}, nil
}

func (l CatalogLauncher) CanFuse(comp *config.Component) bool {
	return l.Catalog.CanFuse(comp, l.Config)
}

type processProc struct{ p *catalog.Process }

func (p processProc) Conn() sdk.Conn { return p.p.Conn }
func (p processProc) Kill()          { p.p.Kill() }

// LocalLauncher runs plugins in this process (LocalConn): for tests and for
// the in-process baseline of benchmarks. Use it with Options.InProcess.
type LocalLauncher struct {
	Defs   map[string]*sdk.Definition
	Logger hclog.Logger
}

func (l LocalLauncher) Launch(_ context.Context, comp *config.Component) (Proc, error) {
	def, ok := l.Defs[comp.Plugin]
	if !ok && comp.Def != nil && comp.Def.Name == comp.Plugin { // a fused chain
		def, ok = comp.Def, true
	}
	if !ok {
		return nil, fmt.Errorf("no plugin %q", comp.Plugin)
	}
	return &localProc{conn: sdk.LocalConn(def, l.Logger)}, nil
}

func (l LocalLauncher) CanFuse(comp *config.Component) bool {
	_, ok := l.Defs[comp.Plugin]
	return ok && (comp.Kind == sdk.KindFilter || comp.Kind == sdk.KindOutput)
}

type localProc struct{ conn sdk.Conn }

func (p *localProc) Conn() sdk.Conn { return p.conn }
func (p *localProc) Kill()          {}
