package train

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMetricsAndPlot(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, MetricsFile)
	mw := func(ms ...Metrics) {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		w := &metricsWriter{f: f}
		w.w = newBufWriter(f)
		for _, m := range ms {
			if err := w.write(m); err != nil {
				t.Fatal(err)
			}
		}
	}
	v := 3.5
	mw(Metrics{Step: 10, TrainLoss: 8, LR: 1e-3}, Metrics{Step: 20, TrainLoss: 6, LR: 2e-3, ValLoss: &v},
		Metrics{Step: 30, TrainLoss: 5, LR: 1e-3})
	// A resumed run from step 20 drops the line of step 30.
	f, err := truncateMetrics(path, 20)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	ms, err := ReadMetrics(path)
	if err != nil || len(ms) != 2 || ms[1].ValLoss == nil || *ms[1].ValLoss != 3.5 {
		t.Fatalf("after truncation: %+v, %v", ms, err)
	}
	svg := filepath.Join(dir, PlotFile)
	if err := PlotSVG(path, svg); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(svg)
	d := xml.NewDecoder(strings.NewReader(string(b)))
	polylines := 0
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			polylines++
		}
	}
	if polylines != 3 || !strings.Contains(string(b), "(last 3.500)") {
		t.Fatalf("svg: %d polylines\n%s", polylines, b)
	}
}
