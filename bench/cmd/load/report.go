package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
)

var brokers = []string{"samsa", "kfake", "nats"}

// metricOrder lists each workload's figures in table order.
var metricOrder = map[string][]string{
	"W1":      {"records/s", "MB/s", "p50 ms", "p99 ms"},
	"W2":      {"records/s", "MB/s", "p50 ms", "p99 ms"},
	"W3":      {"MB/s", "records/s"},
	"W4":      {"p50 ms", "p99 ms", "p99.9 ms", "achieved MB/s"},
	"W5":      {"partitions", "create sec", "RSS idle MiB", "RSS created MiB", "RSS after prod. MiB", "produce records/s"},
	"W6":      {"filled GB", "fill MB/s", "recovery sec", "records written", "records kept"},
	"W7":      {"records/s", "MB/s", "x W1 MB/s", "p50 ms", "p99 ms"},
	"W7-e2e":  {"p50 ms", "p99 ms", "p99.9 ms", "achieved MB/s"},
	"W8-KILL": w8Metrics, "W8-KILL-ctl": w8Metrics,
	"W8-TERM": w8Metrics, "W8-TERM-ctl": w8Metrics,
	"W9-idem":  {"records/s", "MB/s"},
	"W9-100ms": {"records/s", "MB/s", "overhead %", "transactions/s"},
	"W9-1000":  {"records/s", "MB/s", "overhead %", "transactions/s"},
	"W9-e2e":   {"p50 ms", "p99 ms", "p99.9 ms", "achieved MB/s", "transactions/s"},
}

var w8Metrics = []string{"leader moved max sec",
	"resume max sec, kgo default", "resume median sec, kgo default",
	"resume max sec, md age 100ms", "resume median sec, md age 100ms",
	"other gap max sec", "partitions moved", "victim was controller",
	"records acked", "acked records lost", "records failed", "records read twice"}

// worstOf are figures whose table value is the worst repetition's, not
// the median: one lost record in any run is a loss.
var worstOf = map[string]bool{"acked records lost": true, "records failed": true, "records read twice": true}

var workloadTitle = map[string]string{
	"W1": "W1 produce 1 KB", "W2": "W2 produce 100 B", "W3": "W3 consume W1 topic",
	"W4": "W4 e2e at 50 MB/s", "W5": "W5 many partitions", "W6": "W6 SIGKILL recovery",
	"W7": "W7 3 brokers RF=3 produce 1 KB", "W7-e2e": "W7 3 brokers RF=3 e2e 50 MB/s",
	"W8-KILL": "W8 SIGKILL a leader", "W8-KILL-ctl": "W8 SIGKILL leader+controller",
	"W8-TERM": "W8 SIGTERM a leader", "W8-TERM-ctl": "W8 SIGTERM leader+controller",
	"W9-idem": "W9 idempotent produce 1 KB", "W9-100ms": "W9 transactions of 100 ms",
	"W9-1000": "W9 transactions of 1,000 records", "W9-e2e": "W9 read_committed e2e 50 MB/s",
}

// target is one of issue 5's targets.
type target struct {
	workload, metric, text string
	met                    func(v map[string]float64) (bool, bool) // met, known
}

func ratioTarget(w, m string) target {
	return target{w, m, ">= 1.5x kfake, >= 4x nats", func(v map[string]float64) (bool, bool) {
		s, k, n := v["samsa"], v["kfake"], v["nats"]
		if s == 0 || k == 0 || n == 0 {
			return false, false
		}
		return s >= 1.5*k && s >= 4*n, true
	}}
}

func maxTarget(w, m, text string, limit float64) target {
	return target{w, m, text, func(v map[string]float64) (bool, bool) {
		s, ok := v["samsa"]
		return ok && s <= limit, ok
	}}
}

func minTarget(w, m, text string, limit float64) target {
	return target{w, m, text, func(v map[string]float64) (bool, bool) {
		s, ok := v["samsa"]
		return ok && s >= limit, ok
	}}
}

var targets = []target{
	ratioTarget("W1", "MB/s"),
	ratioTarget("W3", "MB/s"),
	maxTarget("W4", "p99 ms", "<= 5 ms", 5),
	maxTarget("W5", "RSS after prod. MiB", "<= 1024 MiB", 1024),
	maxTarget("W6", "recovery sec", "<= 5 s", 5),
	minTarget("W7", "x W1 MB/s", ">= 0.5x W1", 0.5),
	maxTarget("W7-e2e", "p99 ms", "<= 10 ms", 10),
	maxTarget("W9-100ms", "overhead %", "< 15 %", 14.999999),
	maxTarget("W9-1000", "overhead %", "< 15 %", 14.999999),
}

func init() {
	for _, w := range []string{"W8-KILL", "W8-KILL-ctl", "W8-TERM", "W8-TERM-ctl"} {
		text, limit := "< 3 s", 2.999999
		if strings.HasPrefix(w, "W8-TERM") {
			text, limit = "< 1 s", 0.999999
		}
		targets = append(targets,
			maxTarget(w, "resume max sec, kgo default", text, limit),
			maxTarget(w, "resume max sec, md age 100ms", text, limit),
			maxTarget(w, "acked records lost", "= 0", 0))
	}
}

func runReport(args []string) error {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	in := fs.String("in", "", "results (JSON lines)")
	out := fs.String("png", "", "chart to write")
	meta := fs.String("meta", "", "a line describing the run, printed on the chart")
	md := fs.Bool("markdown", false, "print the table as Markdown")
	fs.Parse(args)
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer f.Close()
	// samples[workload][metric][broker]: one value per repetition (bench/run
	// --repeat); the table shows the median of each figure.
	samples := map[string]map[string]map[string][]float64{}
	notes := map[string][]string{}
	var order []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r result
		if json.Unmarshal(sc.Bytes(), &r) != nil || r.Workload == "" {
			continue
		}
		if samples[r.Workload] == nil {
			samples[r.Workload] = map[string]map[string][]float64{}
			order = append(order, r.Workload)
		}
		for m, v := range r.Metrics {
			if samples[r.Workload][m] == nil {
				samples[r.Workload][m] = map[string][]float64{}
			}
			samples[r.Workload][m][r.Broker] = append(samples[r.Workload][m][r.Broker], v)
		}
		if r.Note != "" {
			notes[r.Workload] = append(notes[r.Workload], r.Broker+": "+r.Note)
		}
	}
	sort.Strings(order)
	values := map[string]map[string]map[string]float64{}
	for wl, ms := range samples {
		values[wl] = map[string]map[string]float64{}
		for m, bs := range ms {
			values[wl][m] = map[string]float64{}
			for b, xs := range bs {
				values[wl][m][b] = median(xs)
				if worstOf[m] {
					values[wl][m][b] = slices.Max(xs)
				}
				if len(xs) > 1 && (m == "MB/s" || strings.HasPrefix(m, "resume max sec")) {
					runs := make([]string, len(xs))
					for i, x := range xs {
						runs[i] = human(x)
					}
					notes[wl] = append(notes[wl], fmt.Sprintf("%s %s in %d runs: %s (table: median)", b, m, len(xs), strings.Join(runs, ", ")))
				}
			}
		}
	}
	// W7 next to the single-node W1 of the same run.
	if w7, w1 := values["W7"]["MB/s"]["samsa"], values["W1"]["MB/s"]["samsa"]; w7 > 0 && w1 > 0 {
		values["W7"]["x W1 MB/s"] = map[string]float64{"samsa": w7 / w1}
	}
	// W9's transactions next to its idempotent produce: the throughput
	// given up, in percent.
	for _, w := range []string{"W9-100ms", "W9-1000"} {
		for _, b := range brokers {
			if t, i := values[w]["MB/s"][b], values["W9-idem"]["MB/s"][b]; t > 0 && i > 0 {
				if values[w]["overhead %"] == nil {
					values[w]["overhead %"] = map[string]float64{}
				}
				values[w]["overhead %"][b] = 100 * (1 - t/i)
			}
		}
	}
	for _, n := range notes {
		sort.Strings(n)
	}

	sep := "\t"
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	if *md {
		sep = " | "
		fmt.Fprintln(w, "| workload | figure | samsa | kfake | nats | samsa/kfake | samsa/nats | target |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---|")
	} else {
		fmt.Fprintln(w, "workload\tfigure\tsamsa\tkfake\tnats\tsamsa/kfake\tsamsa/nats\ttarget\t")
	}
	for _, wl := range order {
		for _, m := range metricOrder[wl] {
			v, ok := values[wl][m]
			if !ok {
				continue
			}
			cells := []string{workloadTitle[wl], m}
			for _, b := range brokers {
				cells = append(cells, fmtVal(v, b))
			}
			cells = append(cells, ratio(v, "kfake"), ratio(v, "nats"), targetCell(wl, m, v))
			if *md {
				fmt.Fprintln(w, "| "+strings.Join(cells, sep)+" |")
			} else {
				fmt.Fprintln(w, strings.Join(cells, sep)+"\t")
			}
		}
	}
	w.Flush()
	fmt.Println("ratios are samsa/peer: above 1 is better for rates, below 1 for latencies, times and memory")
	for _, wl := range order {
		for _, n := range notes[wl] {
			fmt.Printf("note %s: %s\n", wl, n)
		}
	}
	if *out != "" {
		if err := drawChart(*out, *meta, values); err != nil {
			return err
		}
		fmt.Println("chart:", *out)
	}
	return nil
}

// median of xs (the mean of the middle two for an even count).
func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func fmtVal(v map[string]float64, b string) string {
	x, ok := v[b]
	if !ok {
		return "-"
	}
	return human(x)
}

func human(x float64) string {
	switch a := math.Abs(x); {
	case a >= 1e6:
		return fmt.Sprintf("%.2fM", x/1e6)
	case a >= 1e4:
		return fmt.Sprintf("%.1fk", x/1e3)
	case a >= 100:
		return fmt.Sprintf("%.0f", x)
	case a >= 1:
		return fmt.Sprintf("%.2f", x)
	default:
		return fmt.Sprintf("%.3f", x)
	}
}

func ratio(v map[string]float64, peer string) string {
	s, ok1 := v["samsa"]
	p, ok2 := v[peer]
	if !ok1 || !ok2 || p == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", s/p)
}

func targetCell(wl, m string, v map[string]float64) string {
	for _, t := range targets {
		if t.workload == wl && t.metric == m {
			met, known := t.met(v)
			switch {
			case !known:
				return t.text + " (n/a)"
			case met:
				return t.text + " MET"
			default:
				return t.text + " MISSED"
			}
		}
	}
	return ""
}

// The chart: one panel per headline figure, a bar per broker, drawn by
// hand with a 3x5 pixel font (no font or plotting dependencies).

var barColors = map[string]color.RGBA{
	"samsa": {0xe0, 0x6c, 0x1f, 0xff},
	"kfake": {0x2f, 0x6f, 0xb5, 0xff},
	"nats":  {0x3c, 0x9a, 0x4f, 0xff},
}

type panel struct{ workload, metric, title string }

var panels = []panel{
	{"W1", "MB/s", "W1 PRODUCE 1KB MB/S"},
	{"W1", "p99 ms", "W1 PRODUCE P99 MS"},
	{"W2", "records/s", "W2 PRODUCE 100B REC/S"},
	{"W3", "MB/s", "W3 CONSUME MB/S"},
	{"W4", "p99 ms", "W4 E2E P99 MS"},
	{"W4", "p99.9 ms", "W4 E2E P99.9 MS"},
	{"W5", "RSS after prod. MiB", "W5 RSS MIB"},
	{"W5", "create sec", "W5 CREATE SEC"},
	{"W6", "recovery sec", "W6 RECOVERY SEC"},
	{"W7", "MB/s", "W7 RF=3 PRODUCE MB/S"},
	{"W7-e2e", "p99 ms", "W7 RF=3 E2E P99 MS"},
	{"W8-KILL", "resume max sec, md age 100ms", "W8 SIGKILL RESUME SEC"},
	{"W8-TERM", "resume max sec, md age 100ms", "W8 SIGTERM RESUME SEC"},
}

func drawChart(path, meta string, values map[string]map[string]map[string]float64) error {
	const (
		pw, ph = 420, 300 // panel size
		cols   = 3
		top    = 70
		scale  = 3
	)
	var ps []panel
	for _, p := range panels {
		if _, ok := values[p.workload][p.metric]; ok {
			ps = append(ps, p)
		}
	}
	rows := (len(ps) + cols - 1) / cols
	img := image.NewRGBA(image.Rect(0, 0, cols*pw, top+rows*ph+10))
	fill(img, img.Bounds(), color.RGBA{0xff, 0xff, 0xff, 0xff})
	black := color.RGBA{0x20, 0x20, 0x20, 0xff}
	drawText(img, 12, 12, "SAMSA BENCHMARK", black, 4)
	drawText(img, 12, 40, meta, black, 2)
	// legend
	lx := cols*pw - 3*130
	for i, b := range brokers {
		fill(img, image.Rect(lx+i*130, 14, lx+i*130+20, 34), barColors[b])
		drawText(img, lx+i*130+28, 17, b, black, scale)
	}
	for i, p := range ps {
		x0, y0 := (i%cols)*pw, top+(i/cols)*ph
		drawText(img, x0+16, y0+10, p.title, black, scale)
		v := values[p.workload][p.metric]
		mx := 0.0
		for _, b := range brokers {
			mx = math.Max(mx, v[b])
		}
		base := y0 + ph - 40
		height := ph - 100
		fill(img, image.Rect(x0+16, base, x0+pw-16, base+2), black)
		for j, b := range brokers {
			x, ok := v[b]
			bx := x0 + 40 + j*125
			if ok && mx > 0 {
				h := int(float64(height) * x / mx)
				fill(img, image.Rect(bx, base-h, bx+80, base), barColors[b])
				drawText(img, bx, base-h-20, human(x), black, scale)
			} else {
				drawText(img, bx+30, base-20, "-", black, scale)
			}
			drawText(img, bx, base+10, b, black, scale)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

func drawText(img *image.RGBA, x, y int, s string, c color.RGBA, scale int) {
	for _, r := range strings.ToUpper(s) {
		g, ok := glyphs[r]
		if !ok {
			g = glyphs['?']
		}
		for row, line := range g {
			for col, ch := range line {
				if ch == '#' {
					fill(img, image.Rect(x+col*scale, y+row*scale, x+(col+1)*scale, y+(row+1)*scale), c)
				}
			}
		}
		x += 4 * scale
	}
}

// glyphs is a 3x5 pixel font.
var glyphs = map[rune][5]string{
	'0': {"###", "#.#", "#.#", "#.#", "###"}, '1': {".#.", "##.", ".#.", ".#.", "###"},
	'2': {"###", "..#", "###", "#..", "###"}, '3': {"###", "..#", "###", "..#", "###"},
	'4': {"#.#", "#.#", "###", "..#", "..#"}, '5': {"###", "#..", "###", "..#", "###"},
	'6': {"###", "#..", "###", "#.#", "###"}, '7': {"###", "..#", "..#", "..#", "..#"},
	'8': {"###", "#.#", "###", "#.#", "###"}, '9': {"###", "#.#", "###", "..#", "###"},
	'A': {".#.", "#.#", "###", "#.#", "#.#"}, 'B': {"##.", "#.#", "##.", "#.#", "##."},
	'C': {".##", "#..", "#..", "#..", ".##"}, 'D': {"##.", "#.#", "#.#", "#.#", "##."},
	'E': {"###", "#..", "##.", "#..", "###"}, 'F': {"###", "#..", "##.", "#..", "#.."},
	'G': {".##", "#..", "#.#", "#.#", ".##"}, 'H': {"#.#", "#.#", "###", "#.#", "#.#"},
	'I': {"###", ".#.", ".#.", ".#.", "###"}, 'J': {"..#", "..#", "..#", "#.#", ".#."},
	'K': {"#.#", "#.#", "##.", "#.#", "#.#"}, 'L': {"#..", "#..", "#..", "#..", "###"},
	'M': {"#.#", "###", "###", "#.#", "#.#"}, 'N': {"##.", "#.#", "#.#", "#.#", "#.#"},
	'O': {".#.", "#.#", "#.#", "#.#", ".#."}, 'P': {"##.", "#.#", "##.", "#..", "#.."},
	'Q': {".#.", "#.#", "#.#", "##.", ".##"}, 'R': {"##.", "#.#", "##.", "#.#", "#.#"},
	'S': {".##", "#..", ".#.", "..#", "##."}, 'T': {"###", ".#.", ".#.", ".#.", ".#."},
	'U': {"#.#", "#.#", "#.#", "#.#", "###"}, 'V': {"#.#", "#.#", "#.#", "#.#", ".#."},
	'W': {"#.#", "#.#", "###", "###", "#.#"}, 'X': {"#.#", "#.#", ".#.", "#.#", "#.#"},
	'Y': {"#.#", "#.#", ".#.", ".#.", ".#."}, 'Z': {"###", "..#", ".#.", "#..", "###"},
	'.': {"...", "...", "...", "...", ".#."}, '/': {"..#", "..#", ".#.", "#..", "#.."},
	'-': {"...", "...", "###", "...", "..."}, '(': {".#.", "#..", "#..", "#..", ".#."},
	')': {".#.", "..#", "..#", "..#", ".#."}, '%': {"#.#", "..#", ".#.", "#..", "#.#"},
	':': {"...", ".#.", "...", ".#.", "..."}, '=': {"...", "###", "...", "###", "..."},
	'>': {"#..", ".#.", "..#", ".#.", "#.."}, '<': {"..#", ".#.", "#..", ".#.", "..#"},
	',': {"...", "...", "...", ".#.", "#.."}, '?': {"###", "..#", ".#.", "...", ".#."},
	'@': {"###", "#.#", "###", "#..", "###"}, '+': {"...", ".#.", "###", ".#.", "..."},
	' ': {"...", "...", "...", "...", "..."}, '_': {"...", "...", "...", "...", "###"},
}
