package server

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/track"
)

// envChild makes the test binary act as a server process for the crash
// test: it serves the database named by the variable's value.
const envChild = "MLENV_SERVER_TEST_CHILD_DB"

func TestMain(m *testing.M) {
	if db := os.Getenv(envChild); db != "" {
		runChild(db)
		return
	}
	os.Exit(m.Run())
}

// runChild serves db on a free port, prints "listening ADDR", and exits
// with status 0 after a clean shutdown on SIGTERM.
func runChild(db string) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	s, err := New(ctx, Config{DB: db, Artifacts: filepath.Join(filepath.Dir(db), "artifacts"),
		Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		err = s.Run(ctx, func(addr string) { fmt.Printf("listening %s\n", addr) })
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// startChild starts a server process on db and returns it and its URI.
func startChild(t *testing.T, db string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"="+db)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "listening ") {
		cmd.Process.Kill()
		t.Fatalf("server process did not start: %q %v", line, err)
	}
	return cmd, "http://" + strings.TrimSpace(strings.TrimPrefix(line, "listening "))
}

// TestKillNineLosesNoAcknowledgedWrite logs under load from several
// clients, kills the server with SIGKILL mid-stream, restarts it on the
// same database and checks that every point the server acknowledged is
// there.
func TestKillNineLosesNoAcknowledgedWrite(t *testing.T) {
	stopUnderLoad(t, syscall.SIGKILL)
}

// TestSIGTERMDrains is the same with SIGTERM, after which the server must
// also exit cleanly.
func TestSIGTERMDrains(t *testing.T) {
	stopUnderLoad(t, syscall.SIGTERM)
}

func stopUnderLoad(t *testing.T, sig syscall.Signal) {
	db := "sqlite:///" + filepath.Join(t.TempDir(), "crash.db")
	cmd, uri := startChild(t, db)
	c, err := track.NewClient(uri, track.ClientOptions{Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const clients = 8
	runs := make([]string, clients)
	for i := range runs {
		r, err := c.CreateRun(ctx, store.RunCreate{ExperimentID: "0"})
		if err != nil {
			t.Fatal(err)
		}
		runs[i] = r.Info.RunID
	}
	acked := make([][]int64, clients) // per client, the steps acknowledged
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			for step := int64(0); ; step++ {
				ms := make([]store.Metric, 20)
				for k := range ms {
					ms[k] = store.Metric{Key: fmt.Sprintf("m%d", k), Value: store.Float(step), Timestamp: step, Step: step}
				}
				if err := c.LogBatch(ctx, store.Batch{RunID: runs[i], Metrics: ms}); err != nil {
					return // the server is gone
				}
				acked[i] = append(acked[i], step)
			}
		})
	}
	time.Sleep(700 * time.Millisecond)
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	werr := cmd.Wait()
	wg.Wait()
	if sig == syscall.SIGTERM && werr != nil {
		t.Fatalf("server did not exit cleanly on SIGTERM: %v", werr)
	}

	cmd, uri = startChild(t, db)
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	c, _ = track.NewClient(uri, track.ClientOptions{})
	total := 0
	for i, steps := range acked {
		total += len(steps)
		for _, key := range []string{"m0", "m19"} {
			hist, err := c.GetMetricHistory(ctx, runs[i], key)
			if err != nil {
				t.Fatal(err)
			}
			have := map[int64]bool{}
			for _, m := range hist {
				have[m.Step] = true
			}
			for _, s := range steps {
				if !have[s] {
					t.Fatalf("client %d: acknowledged step %d of %s is lost after %s (%d of %d stored)", i, s, key, sig, len(hist), len(steps))
				}
			}
		}
		if len(steps) == 0 {
			continue
		}
		// The latest values, which the store may derive from staged
		// points after a restart, cover the last acknowledged step.
		r, err := c.GetRun(ctx, runs[i])
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Metrics) != 20 {
			t.Fatalf("client %d: run has %d latest metrics after %s, want 20", i, len(r.Metrics), sig)
		}
		for _, m := range r.Metrics {
			if last := steps[len(steps)-1]; m.Step < last {
				t.Fatalf("client %d: latest %s at step %d after %s, but step %d was acknowledged", i, m.Key, m.Step, sig, last)
			}
		}
	}
	if total < clients {
		t.Fatalf("only %d batches were acknowledged before the kill; the test logged too little to mean anything", total)
	}
	t.Logf("%d acknowledged batches survived %s", total, sig)
}
