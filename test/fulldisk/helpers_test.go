package fulldisk

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// mountTmpfs mounts a tmpfs of size (e.g. "4m") at dir, to be filled, and
// skips the test where that needs privileges it does not have.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a tmpfs to fill (needs root): %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
}

// build compiles the project's packages (paths below the module) into dir
// and returns the binaries' paths, in order.
func build(t *testing.T, dir string, pkgs ...string) []string {
	t.Helper()
	var bins []string
	for _, pkg := range pkgs {
		bin := filepath.Join(dir, filepath.Base(pkg))
		if out, err := exec.Command("go", "build", "-o", bin, "github.com/sentinel-audit/sentinel/"+pkg).CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", pkg, err, out)
		}
		bins = append(bins, bin)
	}
	return bins
}

// runSentinel starts `sentinel run -c pipeline.hcl` in dir, killed when the
// test ends, and returns it with its combined output and its exit.
func runSentinel(t *testing.T, sentinel, dir string) (*exec.Cmd, *syncBuffer, <-chan error) {
	t.Helper()
	cmd := exec.Command(sentinel, "run", "-c", "pipeline.hcl")
	cmd.Dir = dir
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd, logs, exited
}
