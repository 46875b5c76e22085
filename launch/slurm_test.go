package launch

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

func TestSlurmScript(t *testing.T) {
	req := JobRequest{Name: "train it", Args: []string{"train", "job's.yaml"}, Workers: 3, CPUs: 2, GPUs: 1,
		Partition: "gpu", MaxRestarts: 2, Binary: "/opt/mlenv", Env: map[string]string{"B": "2", "A": "x y"}}
	got := SlurmScript("J1", req, "/shared/jobs/J1/job.log", 4242)
	for _, want := range []string{
		"#SBATCH --job-name='mlenv-train it'\n",
		"#SBATCH --ntasks=3\n",
		"#SBATCH --cpus-per-task=2\n",
		"#SBATCH --output=/shared/jobs/J1/job.log\n",
		"#SBATCH --partition=gpu\n",
		"#SBATCH --gres=gpu:1\n",
		"unset MLENV_RANK MLENV_WORLD_SIZE MLENV_RENDEZVOUS\n",
		"export MLENV_RENDEZVOUS_PORT=4242\n",
		"export A='x y'\nexport B=2\n",
		"max=2\n",
		"\texport MLENV_RESTART_COUNT=$restart\n",
		"\tsrun --label --kill-on-bad-exit=1 /opt/mlenv train 'job'\\''s.yaml' && exit 0\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("script lacks %q:\n%s", want, got)
		}
	}
}

func TestApplyScontrol(t *testing.T) {
	cases := []struct {
		line  string
		state State
		code  int
	}{
		{"JobId=5 JobState=PENDING Reason=Resources ExitCode=0:0 StartTime=Unknown", Queued, 0},
		{"JobId=5 JobState=RUNNING ExitCode=0:0 StartTime=2026-01-02T03:04:05", Running, 0},
		{"JobId=5 JobState=COMPLETED ExitCode=0:0 EndTime=2026-01-02T03:04:09", Succeeded, 0},
		{"JobId=5 JobState=FAILED Reason=NonZeroExitCode ExitCode=7:0", Failed, 7},
		{"JobId=5 JobState=CANCELLED ExitCode=0:15", Cancelled, -1},
		{"JobId=5 JobState=TIMEOUT ExitCode=0:0", Failed, 0},
	}
	for _, c := range cases {
		rec := &Record{}
		applyScontrol(rec, parseScontrol(c.line))
		if rec.State != c.state || rec.ExitCode != c.code {
			t.Errorf("%q: state %s code %d, want %s %d", c.line, rec.State, rec.ExitCode, c.state, c.code)
		}
	}
	rec := &Record{}
	applyScontrol(rec, parseScontrol("JobState=COMPLETED ExitCode=0:0 StartTime=2026-01-02T03:04:05 EndTime=2026-01-02T03:04:09"))
	if d := rec.Finished.Sub(rec.Started); d != 4*time.Second {
		t.Errorf("start and end times parsed %v apart, want 4s", d)
	}
}

// realSlurm returns a Slurm executor when the tests run under
// scripts/with-slurm.sh.
func realSlurm(t *testing.T) *Slurm {
	if os.Getenv("MLENV_TEST_SLURM") == "" {
		t.Skip("MLENV_TEST_SLURM not set: run under scripts/with-slurm.sh (make test does)")
	}
	return NewSlurm(&Store{Root: t.TempDir()}, nil)
}

// waitSlurm polls the job until it reaches a final state.
func waitSlurm(t *testing.T, s *Slurm, id JobID) Status {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		st, err := s.Status(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if st.State.Final() {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s after 90s; log:\n%s", id, st.State, readLog(t, s, id))
		}
	}
}

func TestSlurmWorkersRendezvousAndAllReduce(t *testing.T) {
	s := realSlurm(t)
	id, err := s.Submit(context.Background(), testRequest("allreduce", 2, nil))
	if err != nil {
		t.Fatal(err)
	}
	st := waitSlurm(t, s, id)
	log := readLog(t, s, id)
	if st.State != Succeeded || st.ExitCode != 0 {
		t.Fatalf("%+v; log:\n%s", st, log)
	}
	for _, want := range []string{"0: rank=0 size=2 sum=[3 30] restart=0", "1: rank=1 size=2 sum=[3 30] restart=0"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

func TestSlurmRestartsThenFails(t *testing.T) {
	s := realSlurm(t)
	req := testRequest("fail-once", 2, nil)
	req.MaxRestarts = 1
	restarted, err := s.Submit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	failing := testRequest("exit", 1, map[string]string{envExit: "7"})
	failed, err := s.Submit(context.Background(), failing)
	if err != nil {
		t.Fatal(err)
	}
	st := waitSlurm(t, s, restarted)
	if log := readLog(t, s, restarted); st.State != Succeeded || st.Restarts != 1 || !strings.Contains(log, "sum=[3 30] restart=1") {
		t.Fatalf("%+v, want succeeded after 1 restart; log:\n%s", st, log)
	}
	if st := waitSlurm(t, s, failed); st.State != Failed || st.ExitCode != 7 {
		t.Fatalf("%+v, want failed with exit code 7", st)
	}
}

func TestSlurmCancel(t *testing.T) {
	s := realSlurm(t)
	id, err := s.Submit(context.Background(), testRequest("sleep", 1, nil))
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(readLog(t, s, id), "started"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("worker did not start")
		}
	}
	if err := s.Cancel(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if st := waitSlurm(t, s, id); st.State != Cancelled {
		t.Fatalf("state %s after scancel, want cancelled", st.State)
	}
}
