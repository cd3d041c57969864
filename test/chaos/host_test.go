package chaos

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// host runs `sentinel run` as a child process the way a service manager
// would: started again after every kill.
type host struct {
	t              *testing.T
	dir, bin, addr string

	cmd    *exec.Cmd
	exited chan struct{}
	// unexpected counts exits the test did not cause (a host crash).
	unexpected int
}

func (h *host) logPath() string { return filepath.Join(h.dir, "host.log") }

func (h *host) start() {
	h.t.Helper()
	log, err := os.OpenFile(h.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		h.t.Fatal(err)
	}
	cmd := exec.Command(h.bin, "run", "-c", "pipeline.hcl")
	cmd.Dir, cmd.Stdout, cmd.Stderr = h.dir, log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		h.t.Fatalf("start host: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		log.Close()
		close(exited)
	}()
	h.cmd, h.exited = cmd, exited
}

func (h *host) running() bool {
	if h.cmd == nil {
		return false
	}
	select {
	case <-h.exited:
		return false
	default:
		return true
	}
}

// restartIfDied restarts a host that exited on its own, and counts it.
func (h *host) restartIfDied() {
	if h.cmd != nil && !h.running() {
		h.unexpected++
		h.t.Logf("the host exited by itself (%s); restarting it", h.cmd.ProcessState)
		h.start()
	}
}

// kill sends SIGKILL to the host and waits until it and its plugin
// processes are gone (they follow their parent: Pdeathsig).
func (h *host) kill() {
	if !h.running() {
		return
	}
	kids := h.plugins()
	_ = h.cmd.Process.Signal(syscall.SIGKILL)
	<-h.exited
	deadline := time.Now().Add(10 * time.Second)
	for _, k := range kids {
		for alive(k.pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if alive(k.pid) {
			h.t.Errorf("plugin %s (pid %d) outlived its host by 10s", k.name, k.pid)
			_ = syscall.Kill(k.pid, syscall.SIGKILL)
		}
	}
}

// stop asks the host to shut down gracefully (SIGTERM: drain, then exit).
func (h *host) stop(timeout time.Duration) {
	h.t.Helper()
	if !h.running() {
		return
	}
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.exited:
	case <-time.After(timeout):
		h.kill()
		h.t.Fatalf("the host did not stop within %s of SIGTERM (log: %s)", timeout, h.logPath())
	}
}

// waitReady waits until the http input answers its health check,
// restarting a host that died meanwhile.
func (h *host) waitReady(timeout time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	c := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		h.restartIfDied()
		resp, err := c.Get("http://" + h.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	h.t.Fatalf("the host was not ready within %s (log: %s)", timeout, h.logPath())
}

type proc struct {
	pid  int
	name string // the plugin it serves
}

// plugins lists the host's child processes: `sentinel plugin serve NAME`.
func (h *host) plugins() []proc {
	if !h.running() {
		return nil
	}
	parent := h.cmd.Process.Pid
	entries, _ := os.ReadDir("/proc")
	var out []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold spaces, so cut at the last ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(parent) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		out = append(out, proc{pid: pid, name: args[len(args)-1]})
	}
	return out
}

func alive(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && !strings.HasPrefix(strings.TrimSpace(string(stat[i+1:])), "Z")
}
