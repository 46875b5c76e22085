package launch

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mlenv/mlenv/collective"
)

// The test binary doubles as the worker program (and as a detached
// supervisor): executors re-run it with envWorker naming what to do.
const (
	envWorker = "MLENV_LAUNCH_TEST_WORKER"
	envFile   = "MLENV_LAUNCH_TEST_FILE"
	envExit   = "MLENV_LAUNCH_TEST_EXIT"
	argSuper  = "launch-test-supervise"
)

func TestMain(m *testing.M) {
	if len(os.Args) == 5 && os.Args[1] == argSuper { // root, CPU budget, job id
		cpus, _ := strconv.Atoi(os.Args[3])
		os.Exit(superviseForTest(os.Args[2], cpus, JobID(os.Args[4])))
	}
	if mode := os.Getenv(envWorker); mode != "" {
		os.Exit(worker(mode))
	}
	os.Exit(m.Run())
}

// worker is the body of a test worker process.
func worker(mode string) int {
	restart := os.Getenv(collective.EnvRestartCount)
	cfg, err := collective.ConfigFromEnv(os.Getenv) // MLENV_* locally, SLURM_* under Slurm
	if err != nil {
		fmt.Println(err)
		return 1
	}
	switch mode {
	case "allreduce":
		return allReduceWorker(cfg, restart)
	case "fail-once":
		if restart == "0" && cfg.Rank == 1 {
			fmt.Println("failing on purpose")
			return 3
		}
		return allReduceWorker(cfg, restart)
	case "exit":
		fmt.Println("exiting")
		var code int
		fmt.Sscan(os.Getenv(envExit), &code)
		return code
	case "sleep":
		child := exec.Command("sleep", "300")
		if err := child.Start(); err != nil {
			fmt.Println(err)
			return 1
		}
		fmt.Printf("started child=%d\n", child.Process.Pid)
		child.Wait()
		return 0
	case "wait-file":
		for {
			if _, err := os.Stat(os.Getenv(envFile)); err == nil {
				return 0
			}
			time.Sleep(20 * time.Millisecond)
		}
	case "append":
		f, err := os.OpenFile(os.Getenv(envFile), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return 1
		}
		fmt.Fprintln(f, os.Getenv("NAME"))
		f.Close()
		return 0
	}
	fmt.Fprintf(os.Stderr, "unknown test worker mode %q\n", mode)
	return 2
}

// allReduceWorker joins the group from the environment contract, sums
// [rank+1, 10*(rank+1)] over all ranks and prints the result.
func allReduceWorker(cfg collective.Config, restart string) int {
	ctx := context.Background()
	cfg.Timeout = 20 * time.Second
	g, err := collective.Join(ctx, cfg)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer g.Close()
	buf := []float32{float32(g.Rank() + 1), float32(10 * (g.Rank() + 1))}
	if err := g.AllReduceSum(ctx, buf); err != nil {
		fmt.Println(err)
		return 1
	}
	fmt.Printf("rank=%d size=%d sum=%v restart=%s\n", g.Rank(), g.Size(), buf, restart)
	return 0
}

// superviseForTest plays `mlenv jobs supervise`: it runs job id from the
// store at root with a budget of cpus until it ends or SIGTERM cancels it.
func superviseForTest(root string, cpus int, id JobID) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	io.Copy(io.Discard, os.Stdin) // the gate of SubmitDetached
	if _, err := NewLocal(&Store{Root: root}, cpus, nil).Run(ctx, id); err != nil {
		fmt.Println(err)
		return 1
	}
	return 0
}

// testRequest returns a request that runs this test binary in mode.
func testRequest(mode string, workers int, env map[string]string) JobRequest {
	all := map[string]string{envWorker: mode}
	for k, v := range env {
		all[k] = v
	}
	return JobRequest{Name: mode, Binary: os.Args[0], Workers: workers, Env: all}
}

// readLog returns the job's whole log.
func readLog(t *testing.T, e Executor, id JobID) string {
	t.Helper()
	r, err := e.Logs(context.Background(), id, false)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// running reports whether pid is a live process (not a zombie).
func running(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, after, _ := strings.Cut(string(data), ") ")
	return !strings.HasPrefix(after, "Z")
}
