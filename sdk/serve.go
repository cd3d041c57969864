package sdk

import (
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// Serve runs def as a plugin process; a plugin's main is `sdk.Serve(mypkg.Definition)`.
// It returns only when the host goes away.
func Serve(def *Definition) {
	if err := def.Check(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if os.Getenv(Handshake.MagicCookieKey) != Handshake.MagicCookieValue {
		fmt.Fprintf(os.Stderr, "%s is a Sentinel %s plugin: the sentinel host runs it.\n"+
			"Put it in a pipeline's plugins_dir, or see `sentinel plugins describe %s`.\n", def.Name, def.Kind, def.Name)
		os.Exit(1)
	}
	go exitWithParent()
	ProfileFromEnv(def.Name)
	if os.Getenv("GOMEMLIMIT") == "" {
		// A pipeline runs one process per component: a soft limit makes each
		// give memory back to the system instead of growing to its high-water mark.
		debug.SetMemoryLimit(pluginMemoryLimit)
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: VersionedPlugins(def),
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, GRPCServerOptions()...)...)
		},
		Logger: serverLogger(),
	})
}

// pluginMemoryLimit is the default soft memory limit of a plugin process.
const pluginMemoryLimit = 64 << 20

// serverLogger writes JSON lines to stderr, which go-plugin relays into the host's log.
func serverLogger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Output: os.Stderr, JSONFormat: true, Level: hclog.Trace})
}

// exitWithParent ends the plugin when the host dies, even by kill -9: the host
// also asks the kernel for that (Pdeathsig), and this covers where it can't.
func exitWithParent() {
	parent := os.Getppid()
	for range time.Tick(time.Second) {
		if os.Getppid() != parent {
			os.Exit(2)
		}
	}
}
