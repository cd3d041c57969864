package report

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

const chromiumPath = "/usr/bin/chromium"

// TestChartsDrawInHeadlessChromium renders a report and loads it in a real
// browser with no network, then reads the DOM after the scripts ran: every
// chart must have drawn its bars.
func TestChartsDrawInHeadlessChromium(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("%s not found: install the Debian package \"chromium\" to run the browser test", chromiumPath)
	}
	evs := sampleEvents()
	dir, keys := signedStore(t, evs)
	ds, err := Load(verifiedSource(t, dir, keys))
	if err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(t.TempDir(), "report.html")
	f, err := os.Create(page)
	if err != nil {
		t.Fatal(err)
	}
	if err := Render(f, Build(ds, dir, Options{Frameworks: []string{"sox", "gdpr"}})); err != nil {
		t.Fatal(err)
	}
	f.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromiumPath, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--disable-dev-shm-usage", "--user-data-dir="+t.TempDir(), "--virtual-time-budget=5000",
		"--dump-dom", "file://"+page)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	dom, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.Bytes())
	}
	if !bytes.Contains(dom, []byte(`data-charts="ready"`)) {
		t.Fatalf("the chart script did not finish (no data-charts=ready); stderr:\n%s", stderr.Bytes())
	}
	for _, id := range []string{"chart-types", "chart-failures", "chart-threats"} {
		re := regexp.MustCompile(`<div id="` + id + `"[^>]*data-drawn="(\d+)"[^>]*>\s*<svg[^>]*>(.*?)</svg>`)
		m := re.FindSubmatch(dom)
		if m == nil {
			t.Errorf("%s: no drawn SVG in the DOM", id)
			continue
		}
		drawn, _ := strconv.Atoi(string(m[1]))
		bars := regexp.MustCompile(`<rect[^>]*class="bar"`).FindAll(m[2], -1)
		if drawn == 0 || len(bars) != drawn {
			t.Errorf("%s: data-drawn=%d, %d bars in the SVG", id, drawn, len(bars))
		}
	}
}
