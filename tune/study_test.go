package tune

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func quadSpace(t *testing.T) *Space {
	t.Helper()
	s, err := NewSpace(Uniform("x", -5, 5), IntRange("n", 0, 10, 1))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func quad(_ context.Context, r *Run) (float64, error) {
	x, n := r.Float("x"), float64(r.Int("n"))
	return (x-1)*(x-1) + (n-3)*(n-3), nil
}

func TestFailedTrialsDoNotStopTheStudy(t *testing.T) {
	ctx := context.Background()
	logs := &strings.Builder{}
	study, err := Open(ctx, Config{Space: quadSpace(t), Sampler: &Random{Seed: 3}, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	obj := func(ctx context.Context, r *Run) (float64, error) {
		switch r.Number() % 4 {
		case 1:
			return 0, errors.New("out of memory")
		case 2:
			panic("bad model")
		case 3:
			return math.NaN(), nil
		}
		return quad(ctx, r)
	}
	if err := study.Optimize(ctx, obj, 12, 2); err != nil {
		t.Fatal(err)
	}
	count := map[State]int{}
	for _, tr := range study.Trials() {
		count[tr.State]++
		if tr.State == Failed && tr.Error == "" {
			t.Errorf("failed trial %d has no error", tr.Number)
		}
	}
	if count[Complete] != 3 || count[Failed] != 9 {
		t.Errorf("states %v, want 3 complete and 9 failed", count)
	}
	if _, ok := study.Best(); !ok {
		t.Error("no best trial")
	}
	if got := strings.Count(logs.String(), "trial failed"); got != 9 {
		t.Errorf("%d failures logged, want 9", got)
	}
}

func TestParallelOptimizeRunsExactlyTheBudget(t *testing.T) {
	ctx := context.Background()
	study, err := Open(ctx, Config{Space: quadSpace(t), Sampler: &TPE{Seed: 1, ConstantLiar: true, Multivariate: true}})
	if err != nil {
		t.Fatal(err)
	}
	var running, peak atomic.Int32
	obj := func(ctx context.Context, r *Run) (float64, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(time.Millisecond)
		return quad(ctx, r)
	}
	if err := study.Optimize(ctx, obj, 30, 4); err != nil {
		t.Fatal(err)
	}
	trials := study.Trials()
	if len(trials) != 30 {
		t.Errorf("%d trials, want 30", len(trials))
	}
	if p := peak.Load(); p > 4 || p < 2 {
		t.Errorf("peak parallelism %d, want 2..4", p)
	}
	for i, tr := range trials {
		if tr.Number != i || tr.State != Complete {
			t.Errorf("trial %d: number %d state %s", i, tr.Number, tr.State)
		}
	}
}

func TestMaximize(t *testing.T) {
	ctx := context.Background()
	study, err := Open(ctx, Config{Space: quadSpace(t), Sampler: &TPE{Seed: 2}, Maximize: true})
	if err != nil {
		t.Fatal(err)
	}
	neg := func(ctx context.Context, r *Run) (float64, error) { v, err := quad(ctx, r); return -v, err }
	if err := study.Optimize(ctx, neg, 60, 1); err != nil {
		t.Fatal(err)
	}
	best, _ := study.Best()
	for _, tr := range study.Trials() {
		if tr.Value > best.Value {
			t.Fatalf("trial %d value %g beats best %g", tr.Number, tr.Value, best.Value)
		}
	}
	if best.Value < -1 {
		t.Errorf("best %g after 60 trials, want close to 0", best.Value)
	}
}

func TestPrunerStopsTrialsThroughReport(t *testing.T) {
	ctx := context.Background()
	study, err := Open(ctx, Config{Space: quadSpace(t), Sampler: &Random{Seed: 5}, Pruner: &ASHA{Eta: 3}})
	if err != nil {
		t.Fatal(err)
	}
	obj := func(ctx context.Context, r *Run) (float64, error) {
		v, _ := quad(ctx, r)
		for step := 1; step <= 9; step++ {
			if _, err := r.Report(step, v+10/float64(step)); err != nil {
				return 0, err
			}
		}
		return v, nil
	}
	if err := study.Optimize(ctx, obj, 30, 1); err != nil {
		t.Fatal(err)
	}
	pruned := 0
	for _, tr := range study.Trials() {
		if tr.State == Pruned {
			pruned++
			if last, v := tr.lastStep(); tr.Value != v || last > 9 {
				t.Errorf("pruned trial %d: value %g last step %d", tr.Number, tr.Value, last)
			}
		}
	}
	if pruned < 10 {
		t.Errorf("%d of 30 trials pruned, want most", pruned)
	}
}

// countingObjective evaluates quad and counts evaluations per trial number.
type countingObjective struct {
	mu    sync.Mutex
	calls map[int]int
}

func (c *countingObjective) eval(ctx context.Context, r *Run) (float64, error) {
	c.mu.Lock()
	c.calls[r.Number()]++
	c.mu.Unlock()
	return quad(ctx, r)
}

func TestResumeAfterCancelDoesNotRepeatTrials(t *testing.T) {
	path := filepath.Join(t.TempDir(), "study.jsonl")
	space := quadSpace(t)
	obj := &countingObjective{calls: map[int]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	store, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	study, err := Open(ctx, Config{Space: space, Sampler: &TPE{Seed: 1}, Storage: store})
	if err != nil {
		t.Fatal(err)
	}
	// Trial 6 blocks until cancelled, so it is cut short mid-run.
	blocking := func(ctx context.Context, r *Run) (float64, error) {
		if r.Number() == 6 {
			cancel()
			<-ctx.Done()
			return 0, ctx.Err()
		}
		return obj.eval(ctx, r)
	}
	if err := study.Optimize(ctx, blocking, 20, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Optimize = %v, want context.Canceled", err)
	}
	interrupted := study.Trials()[6]
	if interrupted.State != Interrupted {
		t.Fatalf("trial 6 is %s, want interrupted", interrupted.State)
	}
	store.Close()

	store, err = OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	resumed, err := Open(context.Background(), Config{Space: space, Sampler: &TPE{Seed: 1}, Storage: store})
	if err != nil {
		t.Fatal(err)
	}
	if err := resumed.Optimize(context.Background(), obj.eval, 20, 2); err != nil {
		t.Fatal(err)
	}
	checkResumed(t, resumed.Trials(), obj.calls, 20)
	// The interrupted point was retried first, once.
	retry := resumed.Trials()[7]
	if fmt.Sprint(retry.Params) != fmt.Sprint(interrupted.Params) || retry.RetryOf == nil || *retry.RetryOf != 6 {
		t.Errorf("trial 7 params %v retry of %v, want the interrupted trial 6's %v", retry.Params, retry.RetryOf, interrupted.Params)
	}
	for _, tr := range resumed.Trials()[8:] {
		if tr.RetryOf != nil {
			t.Errorf("trial %d retries %d again", tr.Number, *tr.RetryOf)
		}
	}
}

// checkResumed checks that a resumed study holds complete complete trials,
// each evaluated once, plus only interrupted ones.
func checkResumed(t *testing.T, trials []Trial, calls map[int]int, complete int) {
	t.Helper()
	n := 0
	for i, tr := range trials {
		if tr.Number != i {
			t.Fatalf("trial at %d has number %d", i, tr.Number)
		}
		switch tr.State {
		case Complete:
			n++
			if calls != nil && calls[tr.Number] != 1 {
				t.Errorf("trial %d evaluated %d times", tr.Number, calls[tr.Number])
			}
		case Interrupted:
		default:
			t.Errorf("trial %d is %s", tr.Number, tr.State)
		}
	}
	if n != complete {
		t.Errorf("%d complete trials, want %d", n, complete)
	}
}

// TestHelperStudyProcess is the study run by TestResumeAfterKill in a
// child process; it does nothing in a normal test run.
func TestHelperStudyProcess(t *testing.T) {
	path := os.Getenv("TUNE_HELPER_STUDY")
	if path == "" {
		return
	}
	store, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	study, err := Open(context.Background(), Config{Space: quadSpace(t), Sampler: &TPE{Seed: 1}, Storage: store})
	if err != nil {
		t.Fatal(err)
	}
	slow := func(ctx context.Context, r *Run) (float64, error) {
		time.Sleep(20 * time.Millisecond)
		return quad(ctx, r)
	}
	if err := study.Optimize(context.Background(), slow, 1000, 2); err != nil {
		t.Fatal(err)
	}
}

func TestResumeAfterKill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "study.jsonl")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperStudyProcess$")
	cmd.Env = append(os.Environ(), "TUNE_HELPER_STUDY="+path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill the child once it has finished some trials.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(path)
		if strings.Count(string(b), `"state":"complete"`) >= 8 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	store, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	before, err := store.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	done := 0
	for _, tr := range before {
		if tr.State == Complete {
			done++
		}
	}
	if done < 8 {
		t.Fatalf("child finished %d trials before the kill, want at least 8", done)
	}
	obj := &countingObjective{calls: map[int]int{}}
	resumed, err := Open(context.Background(), Config{Space: quadSpace(t), Sampler: &TPE{Seed: 1}, Storage: store})
	if err != nil {
		t.Fatal(err)
	}
	if err := resumed.Optimize(context.Background(), obj.eval, done+5, 2); err != nil {
		t.Fatal(err)
	}
	trials := resumed.Trials()
	checkResumed(t, trials, nil, done+5)
	for _, tr := range trials[:len(before)] {
		if tr.State == Complete && obj.calls[tr.Number] != 0 {
			t.Errorf("trial %d finished before the kill and was evaluated again", tr.Number)
		}
	}
}

func TestFileStorageTornAndCorruptLines(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	good := `{"number":0,"state":"complete","params":{"x":1},"value":2,"start":"2026-01-01T00:00:00Z"}` + "\n"

	torn := filepath.Join(dir, "torn.jsonl")
	os.WriteFile(torn, []byte(good+`{"number":1,"sta`), 0o644)
	s, err := OpenFile(torn)
	if err != nil {
		t.Fatal(err)
	}
	trials, err := s.Load(ctx)
	if err != nil || len(trials) != 1 || trials[0].Value != 2 {
		t.Fatalf("Load of torn file = %v, %v; want one trial", trials, err)
	}
	if err := s.Save(ctx, Trial{Number: 1, State: Running, Params: Params{"x": 3}}); err != nil {
		t.Fatal(err)
	}
	if trials, err = s.Load(ctx); err != nil || len(trials) != 2 {
		t.Errorf("after append to a torn file: %v, %v; want two trials", trials, err)
	}
	s.Close()

	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte(good+"not json\n"+good), 0o644)
	s, err = OpenFile(bad)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Load(ctx); err == nil || !strings.Contains(err.Error(), "bad.jsonl:2:") {
		t.Errorf("Load of corrupt file = %v, want an error at bad.jsonl:2", err)
	}
}
