package train

import (
	"bufio"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/bitnet-go/bitnet/internal/par"
	"github.com/bitnet-go/bitnet/internal/testutil"
)

// TestScheduleMatchesReference compares the schedule with the learning
// rates and weight decays the reference run logged (the value of the row
// for step s is the one step s used, i.e. 0-based step s−1).
func TestScheduleMatchesReference(t *testing.T) {
	path := testutil.Shared(t, "golden/trained-s/train_loss_log.csv", "the learning-rate schedule of the reference run")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := DefaultOptions(950).Schedule
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	rows := 0
	for sc.Scan() {
		fs := strings.Split(sc.Text(), ",")
		step, _ := strconv.Atoi(fs[0])
		lr, _ := strconv.ParseFloat(fs[2], 64)
		wd, _ := strconv.ParseFloat(fs[3], 64)
		gotLR, gotWD := s.At(step - 1)
		if math.Abs(gotLR-lr) > 1e-5*lr || gotWD != wd {
			t.Errorf("step %d: lr %.6g wd %g, reference %.6g %g", step, gotLR, gotWD, lr, wd)
		}
		rows++
	}
	if rows != 95 {
		t.Fatalf("read %d rows", rows)
	}
}

func TestScheduleShape(t *testing.T) {
	s := Schedule{Peak: 1e-3, Warmup: 10, Steps: 100, Stage1Floor: 0.5, Stage2Start: 0.2, MinLR: 1e-6, WD: 0.1}
	if lr, wd := s.At(0); lr != 1e-4 || wd != 0.1 {
		t.Errorf("step 0: %g %g", lr, wd)
	}
	if lr, _ := s.At(10); lr != 1e-3 {
		t.Errorf("end of warm-up: %g", lr)
	}
	if lr, _ := s.At(49); math.Abs(lr-5e-4) > 1e-6 {
		t.Errorf("end of stage 1: %g", lr)
	}
	if lr, wd := s.At(50); math.Abs(lr-2e-4) > 1e-12 || wd != 0 {
		t.Errorf("start of stage 2: %g %g", lr, wd)
	}
	if lr, _ := s.At(99); lr != 1e-6 {
		t.Errorf("last step: %g", lr)
	}
	prev := math.Inf(1)
	for i := 10; i < 100; i++ {
		lr, _ := s.At(i)
		if lr > prev {
			t.Fatalf("lr rises at step %d", i)
		}
		prev = lr
	}
}

// TestAdamW checks one update against the PyTorch formulas in float64.
func TestAdamW(t *testing.T) {
	lay := newLayout(tinyConfig)
	n := lay.Size
	w := randVec(newRand(1), n, 0.1)
	g := randVec(newRand(2), n, 0.01)
	m := randVec(newRand(3), n, 0.001)
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(math.Abs(float64(g[i]))) * 1e-3
	}
	w0, m0, v0 := append([]float32(nil), w...), append([]float32(nil), m...), append([]float32(nil), v...)
	o := DefaultOptions(10).Optimizer
	p := par.New(2)
	defer p.Close()
	const step, lr, wd = 3, 1e-3, 0.1
	o.step(p, optChunks(lay), w, g, m, v, step, lr, wd, 1)
	for _, tn := range lay.Tensors {
		for i := tn.Off; i < tn.Off+tn.Size(); i++ {
			decay := 0.0
			if tn.Kind == kindTernary {
				decay = wd
			}
			mm := 0.9*float64(m0[i]) + 0.1*float64(g[i])
			vv := 0.95*float64(v0[i]) + 0.05*float64(g[i])*float64(g[i])
			den := math.Sqrt(vv)/math.Sqrt(1-math.Pow(0.95, step)) + 1e-8
			want := float64(w0[i])*(1-lr*decay) - lr/(1-math.Pow(0.9, step))*mm/den
			if math.Abs(float64(w[i])-want) > 1e-6*math.Abs(want)+1e-9 {
				t.Fatalf("%s[%d] = %v, want %v", tn.Name, i-tn.Off, w[i], want)
			}
		}
	}
}
