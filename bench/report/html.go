package report

import (
	"fmt"
	"html/template"
	"io"
	"strings"
)

// WriteHTML writes a self-contained report: the tables, a throughput bar
// chart, a latency-by-percentile chart and a throughput timeline per
// workload, all inline SVG. It loads nothing from the network and runs
// no script.
func WriteHTML(w io.Writer, r *Result) error {
	targets := r.TargetNames()
	colors := map[string]string{}
	for i, t := range targets {
		colors[t] = color(i)
	}
	page := htmlPage{Result: r, Title: "cairn bench: " + strings.Join(targets, " vs ")}
	for _, t := range r.tables() {
		page.Tables = append(page.Tables, htmlTable{ID: t.id, Head: t.head, Right: t.right, Rows: t.rows})
	}
	for _, wl := range r.Workloads() {
		sec := htmlWorkload{Name: wl}
		var bars []bar
		var runs []Run
		var cs []string
		for _, t := range targets {
			run, ok := r.Median(t, wl)
			b := bar{label: t, color: colors[t]}
			switch {
			case !ok:
				b.text = "not run"
			case run.Unsupported != "":
				b.text = "unsupported"
				sec.Notes = append(sec.Notes, t+": "+run.Unsupported)
			case run.Failed != "":
				b.text = "failed"
				sec.Notes = append(sec.Notes, t+" failed: "+run.Failed)
			default:
				b.value, b.text = run.OpsPerSec, Rate(run.OpsPerSec)
				runs = append(runs, run)
				cs = append(cs, colors[t])
				if run.Errors > 0 {
					sec.Notes = append(sec.Notes, fmt.Sprintf("%s: %d errors (%s)", t, run.Errors, classes(run.ErrorClasses)))
				}
				if run.Delivery != nil {
					sec.Notes = append(sec.Notes, fmt.Sprintf("%s: %d of %d watch deliveries, p50 %s, p99 %s", t,
						run.Deliveries, run.ExpectedDeliveries, Micros(run.Delivery.P50US), Micros(run.Delivery.P99US)))
				}
			}
			bars = append(bars, b)
		}
		if len(runs) > 0 {
			sec.Desc = describe(runs[0])
		}
		sec.Charts = []template.HTML{
			template.HTML(barChart(wl+": throughput (ops/s)", bars)),
		}
		if len(runs) > 0 {
			sec.Charts = append(sec.Charts,
				template.HTML(spectrumChart(wl+": latency by percentile", runs, cs)),
				template.HTML(timelineChart(wl+": ops/s over time", runs, cs)))
		}
		page.Workloads = append(page.Workloads, sec)
	}
	if err := pageTemplate.Execute(w, page); err != nil {
		return fmt.Errorf("writing HTML report: %w", err)
	}
	return nil
}

type htmlPage struct {
	*Result
	Title     string
	Tables    []htmlTable
	Workloads []htmlWorkload
}

type htmlTable struct {
	ID    string
	Head  []string
	Right []bool
	Rows  [][]string
}

type htmlWorkload struct {
	Name   string
	Desc   string
	Charts []template.HTML
	Notes  []string
}

var pageTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"right": func(t htmlTable, i int) bool { return i < len(t.Right) && t.Right[i] },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<title>{{.Title}}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; max-width: 1400px; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; }
th { background: #f3f3f3; }
td.r { text-align: right; font-variant-numeric: tabular-nums; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
svg { background: #fff; border: 1px solid #ddd; }
svg .t { font-size: 13px; font-weight: 600; }
svg .yl { font-size: 10px; text-anchor: end; fill: #555; }
svg .xl { font-size: 11px; text-anchor: middle; fill: #333; }
svg .v { font-size: 10px; text-anchor: middle; fill: #222; }
svg .lg { font-size: 11px; fill: #222; }
svg .g { stroke: #eee; }
svg .a { stroke: #999; }
code { background: #f6f6f6; padding: 1px 4px; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p>Command: <code>{{.Command}}</code><br/>
Started {{.Started.UTC.Format "2006-01-02 15:04:05 UTC"}} on {{.Host.CPUs}} CPUs, {{.Host.OS}}, {{.Host.GoVersion}}, harness {{.Host.Harness}}.</p>
{{range .Tables}}<h2>{{.ID}}</h2>
<table id="{{.ID}}">
<tr>{{range .Head}}<th>{{.}}</th>{{end}}</tr>
{{$t := .}}{{range .Rows}}<tr>{{range $i, $c := .}}<td{{if right $t $i}} class="r"{{end}}>{{$c}}</td>{{end}}</tr>
{{end}}</table>
{{end}}{{if .Notes}}<h2>notes</h2>
<ul>{{range .Notes}}<li>{{.}}</li>{{end}}</ul>
{{end}}{{range .Workloads}}<h2 id="w-{{.Name}}">{{.Name}}</h2>
{{if .Desc}}<p>{{.Desc}}</p>{{end}}
<div class="charts">{{range .Charts}}{{.}}{{end}}</div>
{{if .Notes}}<ul>{{range .Notes}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{end}}<p>Latency is measured from each operation's intended start (open-loop runs are corrected for coordinated omission); the percentile axis is log-scaled so 90, 99, 99.9 and 99.99 are evenly spaced.</p>
</body>
</html>
`))
