// Package stdio runs an MCP stdio server behind the tap: the byte path of
// `sentinel wrap`. The client talks to this process exactly as it would to the
// server: bytes pass unchanged both ways, the server's stderr is the
// wrapper's, signals are forwarded, and the server's exit is the wrapper's.
package stdio

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sentinel-audit/sentinel/plugins/input/mcp_tap/tap"
)

// Options configure one wrapped server.
type Options struct {
	Command []string
	Env     []string // nil: inherit
	Dir     string
	Stdin   io.Reader // from the client
	Stdout  io.Writer // to the client; only the server's bytes (and enforce-mode replies) go here
	Stderr  *os.File  // handed to the server as is
	Tap     *tap.Tap
	Session tap.SessionInfo
	// Gate judges each client line before forwarding it (policy enforce mode).
	Gate bool
	// Signals are forwarded to the server while it runs.
	Signals <-chan os.Signal
	// DrainTimeout bounds how long, after the server exits, the wrapper waits
	// for its stdout to close (a grandchild may hold it open).
	DrainTimeout time.Duration
}

// WrapperGCPercent is the garbage collector target of a wrapper process
// (unless GOGC says otherwise). A wrapper's live heap is small (queues and
// parse buffers), and every collection's mark phase takes CPU from the byte
// path on a small machine: collecting four times less often costs a few MB.
const WrapperGCPercent = 400

// TuneGC sets WrapperGCPercent unless GOGC is set, and returns a func that
// puts the previous setting back.
func TuneGC() (restore func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	old := debug.SetGCPercent(WrapperGCPercent)
	return func() { debug.SetGCPercent(old) }
}

// Exit is how the server ended.
type Exit struct {
	Code   int            // exit status, or -1 when killed by a signal
	Signal syscall.Signal // the signal that killed it, or 0
}

// Run starts the server, pumps both directions through the tap and returns
// when the server has exited and its output is forwarded.
func Run(o Options) (Exit, error) {
	if len(o.Command) == 0 {
		return Exit{}, errors.New("no server command")
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 2 * time.Second
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return Exit{}, fmt.Errorf("stdin pipe: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return Exit{}, fmt.Errorf("stdout pipe: %w", err)
	}
	cmd := exec.Command(o.Command[0], o.Command[1:]...)
	cmd.Env, cmd.Dir = o.Env, o.Dir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, o.Stderr
	if err := cmd.Start(); err != nil {
		for _, f := range []*os.File{inR, inW, outR, outW} {
			f.Close()
		}
		return Exit{}, fmt.Errorf("start %s: %w", o.Command[0], err)
	}
	// the child holds its ends now; ours would keep EOF from ever arriving
	inR.Close()
	outW.Close()

	sess := o.Tap.NewSession(o.Session)
	client := tap.NewClientWriter(o.Stdout)
	fromClient := tap.NewObserver(sess, tap.ClientToServer)
	fromServer := tap.NewObserver(sess, tap.ServerToClient)

	clientDone := make(chan error, 1)
	var clientClosed atomic.Bool
	go func() {
		err := tap.PumpClientToServer(inW, o.Stdin, sess, o.Gate, client.Inject, fromClient)
		clientClosed.Store(true) // before the server can see EOF and exit
		inW.Close()              // the client hung up: the server sees EOF on stdin, as it would directly
		clientDone <- err
	}()
	serverDone := make(chan error, 1)
	go func() {
		err := tap.PumpServerToClient(client, outR, fromServer)
		if err != nil {
			// the client is gone: closing the read end gives the server the
			// EPIPE it would have got writing to the client itself
			outR.Close()
			_, _ = io.Copy(io.Discard, outR)
		}
		serverDone <- err
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	var waitErr error
	var pumpErr error
	serverOut := serverDone
	clientIn := clientDone
	var clientErr error
	reason := "server_exit"
wait:
	for {
		select {
		case sig := <-o.Signals:
			_ = cmd.Process.Signal(sig)
		case err := <-clientIn:
			clientIn, clientErr = nil, err
			reason = "client_closed"
		case pumpErr = <-serverOut:
			serverOut = nil
			if pumpErr != nil {
				reason = "client_disconnected"
			}
		case waitErr = <-exited:
			break wait
		}
	}
	if serverOut != nil {
		select {
		case pumpErr = <-serverOut:
		case <-time.After(o.DrainTimeout):
			outR.Close() // a grandchild keeps stdout open; the server is gone
			pumpErr = <-serverOut
		}
	}
	outR.Close()
	// the session's end comes after everything it carried was observed; a
	// client pump still blocked reading (the client keeps stdin open after
	// the server died) is closed now, its bytes after the exit unforwarded
	fromClient.Close()
	fromServer.Wait()
	fromClient.Wait()
	if reason == "server_exit" && clientClosed.Load() {
		reason = "client_closed"
	}
	ex := exitOf(cmd, waitErr)
	details := map[string]any{"exit_code": ex.Code, "command": o.Command[0]}
	if ex.Signal != 0 {
		details["signal"] = ex.Signal.String()
		reason = "server_killed"
	} else if ex.Code != 0 && reason == "server_exit" {
		reason = "server_failed"
	}
	if clientErr != nil {
		details["client_error"] = clientErr.Error()
	}
	if pumpErr != nil {
		details["client_write_error"] = pumpErr.Error()
	}
	sess.Close(true, reason, details)
	return ex, nil
}

func exitOf(cmd *exec.Cmd, err error) Exit {
	st, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok {
		if err != nil {
			return Exit{Code: 1}
		}
		return Exit{Code: cmd.ProcessState.ExitCode()}
	}
	if st.Signaled() {
		return Exit{Code: -1, Signal: st.Signal()}
	}
	return Exit{Code: st.ExitStatus()}
}
