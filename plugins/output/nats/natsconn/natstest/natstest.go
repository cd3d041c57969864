// Package natstest runs a real nats-server with JetStream inside a test
// process, on a random loopback port, with its store in a temp dir. Only
// tests import it, so the plugin binaries do not carry the server.
package natstest

import (
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is one in-process nats-server that a test can stop and start again
// on the same port and store, to play an outage.
type Server struct {
	t        testing.TB
	storeDir string
	port     int
	url      string
	srv      *server.Server
}

// Start runs a JetStream-enabled server; it is shut down when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, storeDir: t.TempDir(), port: -1}
	s.start()
	s.port = s.srv.Addr().(*net.TCPAddr).Port
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start() {
	s.t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host:      "127.0.0.1",
		Port:      s.port,
		JetStream: true,
		StoreDir:  s.storeDir,
		NoLog:     true,
		NoSigs:    true,
		// Small limits keep a test's server light on a busy CI machine.
		JetStreamMaxMemory: 64 << 20,
		JetStreamMaxStore:  1 << 30,
	})
	if err != nil {
		s.t.Fatalf("nats-server: %v", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		s.t.Fatal("nats-server did not become ready within 10s")
	}
	s.srv, s.url = srv, srv.ClientURL()
}

// URL is the client URL, stable across Stop and Restart.
func (s *Server) URL() string { return s.url }

// Stop shuts the server down (an outage); streams stay in the store.
func (s *Server) Stop() {
	if s.srv != nil {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
	}
}

// Restart starts the server again on the same port with the same store.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}
