package report

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// Inline SVG charts, written by hand so the report needs no scripts and
// no network: bars for throughput, lines for latency spectra and time
// series.

// palette colors targets by position (colour-blind safe, Dark2).
var palette = []string{"#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02"}

func color(i int) string { return palette[i%len(palette)] }

const (
	chartW, chartH = 420, 260
	padL, padR     = 64, 24
	padT, padB     = 28, 56
)

// svgStyle makes each chart stand alone (it is also valid inside the
// HTML page).
const svgStyle = `<style>text{font:11px sans-serif;fill:#333}.t{font-size:13px;font-weight:600}` +
	`.yl{font-size:10px;text-anchor:end;fill:#555}.xl{text-anchor:middle}.v{font-size:10px;text-anchor:middle}` +
	`.g{stroke:#eee}.a{stroke:#999}</style>`

type svgBuf struct{ strings.Builder }

func (s *svgBuf) f(format string, args ...any) { fmt.Fprintf(&s.Builder, format, args...) }

func esc(s string) string { return html.EscapeString(s) }

func (s *svgBuf) open(title string) {
	s.f(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`,
		chartW, chartH, chartW, chartH, esc(title))
	s.f(`<title>%s</title>%s<rect width="%d" height="%d" fill="#fff"/>`, esc(title), svgStyle, chartW, chartH)
	s.f(`<text x="%d" y="16" class="t">%s</text>`, padL, esc(title))
}

// bar is one bar of a bar chart.
type bar struct {
	label string
	value float64
	text  string // shown above the bar
	color string
}

// barChart draws bars from zero; a bar with no value is drawn as a
// labelled gap.
func barChart(title string, bars []bar) string {
	var s svgBuf
	s.open(title)
	top := 0.0
	for _, b := range bars {
		top = math.Max(top, b.value)
	}
	plotW, plotH := float64(chartW-padL-padR), float64(chartH-padT-padB)
	yTicks := linearTicks(top * 1.08) // room for the value labels
	if len(yTicks) > 0 {
		top = yTicks[len(yTicks)-1]
	}
	for _, v := range yTicks {
		y := float64(padT) + plotH*(1-v/top)
		s.f(`<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="g"/>`, padL, chartW-padR, y, y)
		s.f(`<text x="%d" y="%.1f" class="yl">%s</text>`, padL-4, y+4, esc(short(v)))
	}
	slot := plotW / float64(max(len(bars), 1))
	for i, b := range bars {
		x := float64(padL) + slot*float64(i) + slot*0.15
		w := slot * 0.7
		cx := x + w/2
		if b.value > 0 && top > 0 {
			h := plotH * b.value / top
			y := float64(padT) + plotH - h
			s.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" data-value="%g"><title>%s: %s</title></rect>`,
				x, y, w, h, b.color, b.value, esc(b.label), esc(b.text))
			s.f(`<text x="%.1f" y="%.1f" class="v">%s</text>`, cx, y-3, esc(b.text))
		} else {
			s.f(`<text x="%.1f" y="%.1f" class="v">%s</text>`, cx, float64(padT)+plotH-3, esc(b.text))
		}
		s.f(`<text x="%.1f" y="%d" class="xl">%s</text>`, cx, chartH-padB+16, esc(b.label))
	}
	s.f(`<line x1="%d" x2="%d" y1="%d" y2="%d" class="a"/>`, padL, chartW-padR, chartH-padB, chartH-padB)
	s.f(`</svg>`)
	return s.String()
}

// linearTicks are 4-6 round values from 0 covering top.
func linearTicks(top float64) []float64 {
	if top <= 0 {
		return nil
	}
	raw := top / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var ticks []float64
	for v := 0.0; v < top+step*0.999; v += step {
		ticks = append(ticks, v)
	}
	return ticks
}

// short formats an axis value: 12k, 1.5M.
func short(v float64) string {
	switch {
	case v >= 1e6:
		return trimZero(fmt.Sprintf("%.1f", v/1e6)) + "M"
	case v >= 1e3:
		return trimZero(fmt.Sprintf("%.1f", v/1e3)) + "k"
	default:
		return trimZero(fmt.Sprintf("%.1f", v))
	}
}

func trimZero(s string) string { return strings.TrimSuffix(s, ".0") }

// series is one line of a line chart.
type series struct {
	name  string
	color string
	pts   [][2]float64
}

// axis maps data values to pixels, linearly or on log10.
type axis struct {
	lo, hi float64
	log    bool
}

func (a axis) frac(v float64) float64 {
	if a.log {
		v, lo, hi := math.Log10(math.Max(v, 1e-9)), math.Log10(a.lo), math.Log10(a.hi)
		if hi == lo {
			return 0.5
		}
		return (v - lo) / (hi - lo)
	}
	if a.hi == a.lo {
		return 0.5
	}
	return (v - a.lo) / (a.hi - a.lo)
}

// tick is an axis label at a data value.
type tick struct {
	v     float64
	label string
}

// lineChart draws series over the given axes and ticks, with a legend.
func lineChart(title string, x, y axis, xt, yt []tick, ss []series) string {
	var s svgBuf
	s.open(title)
	plotW, plotH := float64(chartW-padL-padR), float64(chartH-padT-padB)
	px := func(v float64) float64 { return float64(padL) + plotW*x.frac(v) }
	py := func(v float64) float64 { return float64(padT) + plotH*(1-y.frac(v)) }
	for _, t := range yt {
		s.f(`<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="g"/>`, padL, chartW-padR, py(t.v), py(t.v))
		s.f(`<text x="%d" y="%.1f" class="yl">%s</text>`, padL-4, py(t.v)+4, esc(t.label))
	}
	for _, t := range xt {
		s.f(`<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" class="g"/>`, px(t.v), px(t.v), padT, chartH-padB)
		s.f(`<text x="%.1f" y="%d" class="xl">%s</text>`, px(t.v), chartH-padB+16, esc(t.label))
	}
	for i, se := range ss {
		var pts []string
		for _, p := range se.pts {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(p[0]), py(p[1])))
		}
		if len(pts) > 0 {
			s.f(`<polyline points="%s" fill="none" stroke="%s" stroke-width="2" data-series="%s"/>`, strings.Join(pts, " "), se.color, esc(se.name))
		}
		lx := padL + 100*i
		s.f(`<rect x="%d" y="%d" width="10" height="10" fill="%s"/>`, lx, chartH-16, se.color)
		s.f(`<text x="%d" y="%d">%s</text>`, lx+14, chartH-7, esc(se.name))
	}
	s.f(`<line x1="%d" x2="%d" y1="%d" y2="%d" class="a"/>`, padL, chartW-padR, chartH-padB, chartH-padB)
	s.f(`</svg>`)
	return s.String()
}

// spectrumX maps a percentile to the x used for latency spectra:
// log10(1/(1-p)), so 90, 99, 99.9 and 99.99 are evenly spaced.
func spectrumX(pct float64) float64 { return math.Log10(100 / (100 - pct)) }

// spectrumChart plots latency by percentile (log-scaled both ways) for
// each target's run of one workload.
func spectrumChart(title string, runs []Run, colors []string) string {
	var ss []series
	lo, hi := math.Inf(1), 0.0
	for i, run := range runs {
		se := series{name: run.Target, color: colors[i]}
		for _, p := range run.Latency.Spectrum {
			if p.Pct >= 100 || p.Pct > 99.99 {
				continue
			}
			us := math.Max(p.US, 1)
			se.pts = append(se.pts, [2]float64{spectrumX(p.Pct), us})
			lo, hi = math.Min(lo, us), math.Max(hi, us)
		}
		ss = append(ss, se)
	}
	if hi == 0 {
		lo, hi = 1, 10
	}
	lo = math.Pow(10, math.Floor(math.Log10(lo)))
	hi = math.Pow(10, math.Ceil(math.Log10(hi)))
	if hi <= lo {
		hi = lo * 10
	}
	var yt []tick
	for v := lo; v <= hi*1.0001; v *= 10 {
		yt = append(yt, tick{v, strings.Replace(strings.Replace(Micros(v), ".00 ", " ", 1), ".0 ", " ", 1)})
	}
	xt := []tick{{spectrumX(0), "0"}, {spectrumX(90), "90"}, {spectrumX(99), "99"}, {spectrumX(99.9), "99.9"}, {spectrumX(99.99), "99.99"}}
	return lineChart(title, axis{0, spectrumX(99.99), false}, axis{lo, hi, true}, xt, yt, ss)
}

// timelineChart plots ops/s per second of each target's run.
func timelineChart(title string, runs []Run, colors []string) string {
	var ss []series
	maxT, maxY := 1.0, 0.0
	for i, run := range runs {
		se := series{name: run.Target, color: colors[i]}
		for _, iv := range run.Intervals {
			se.pts = append(se.pts, [2]float64{iv.T, iv.OpsPerSec})
			maxT, maxY = math.Max(maxT, iv.T), math.Max(maxY, iv.OpsPerSec)
		}
		ss = append(ss, se)
	}
	yv := linearTicks(maxY)
	top := 1.0
	if len(yv) > 0 {
		top = yv[len(yv)-1]
	}
	var yt, xt []tick
	for _, v := range yv {
		yt = append(yt, tick{v, short(v)})
	}
	for _, v := range linearTicks(maxT) {
		xt = append(xt, tick{v, short(v) + " s"})
	}
	return lineChart(title, axis{0, maxT, false}, axis{0, top, false}, xt, yt, ss)
}
