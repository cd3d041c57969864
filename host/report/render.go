package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
)

//go:embed report.html.tmpl
var pageSource string

//go:embed charts.js
var chartsJS string

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	// chartsJS is our own code, embedded at build time: safe to inline as is.
	"chartsJS": func() template.JS { return template.JS(chartsJS) },
	"pct": func(n, total int) string {
		if total == 0 {
			return "0%"
		}
		return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(total))
	},
}).Parse(pageSource))

// Render writes the report as one HTML document with no external references.
func Render(w io.Writer, m *Model) error {
	if err := page.Execute(w, m); err != nil {
		return fmt.Errorf("report: render: %w", err)
	}
	return nil
}
