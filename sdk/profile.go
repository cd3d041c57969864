package sdk

import (
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"time"
)

// ProfileFromEnv writes a CPU profile of the first SENTINEL_CPUPROFILE_SECONDS
// (default 20) of this process to SENTINEL_CPUPROFILE_DIR/<name>.pprof, when
// that directory is set: how the host and every plugin process are profiled
// under real load. It returns at once.
func ProfileFromEnv(name string) {
	dir := os.Getenv("SENTINEL_CPUPROFILE_DIR")
	if dir == "" {
		return
	}
	secs, err := strconv.Atoi(os.Getenv("SENTINEL_CPUPROFILE_SECONDS"))
	if err != nil || secs <= 0 {
		secs = 20
	}
	f, err := os.Create(filepath.Join(dir, name+".pprof"))
	if err != nil {
		return
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return
	}
	time.AfterFunc(time.Duration(secs)*time.Second, func() {
		pprof.StopCPUProfile()
		f.Close()
	})
}
