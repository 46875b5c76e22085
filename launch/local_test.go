package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func newTestLocal(t *testing.T, cpus int) (*Local, *Store) {
	store := &Store{Root: t.TempDir()}
	return NewLocal(store, cpus, nil), store
}

func waitJob(t *testing.T, l *Local, id JobID) Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := l.Wait(ctx, id)
	if err != nil {
		t.Fatalf("job %s: %v", id, err)
	}
	return st
}

func TestLocalWorkersRendezvousAndAllReduce(t *testing.T) {
	l, _ := newTestLocal(t, 2)
	id, err := l.Submit(context.Background(), testRequest("allreduce", 2, nil))
	if err != nil {
		t.Fatal(err)
	}
	st := waitJob(t, l, id)
	log := readLog(t, l, id)
	if st.State != Succeeded || st.ExitCode != 0 {
		t.Fatalf("state %s exit %d (%s), want succeeded; log:\n%s", st.State, st.ExitCode, st.Message, log)
	}
	for r := range 2 {
		if want := fmt.Sprintf("[rank %d] rank=%d size=2 sum=[3 30] restart=0\n", r, r); !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

func TestLocalRestartsAllWorkersAfterAFailure(t *testing.T) {
	l, _ := newTestLocal(t, 2)
	req := testRequest("fail-once", 2, nil)
	req.MaxRestarts = 2
	id, err := l.Submit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	st := waitJob(t, l, id)
	log := readLog(t, l, id)
	if st.State != Succeeded || st.Restarts != 1 {
		t.Fatalf("state %s after %d restarts, want succeeded after 1; log:\n%s", st.State, st.Restarts, log)
	}
	for _, want := range []string{"[rank 1] failing on purpose", "[mlenv] restart 1 of 2", "[rank 0] rank=0 size=2 sum=[3 30] restart=1", "[rank 1] rank=1 size=2 sum=[3 30] restart=1"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

func TestLocalFailureKeepsExitCodeAfterRestartsRunOut(t *testing.T) {
	l, _ := newTestLocal(t, 2)
	req := testRequest("exit", 1, map[string]string{envExit: "7"})
	req.MaxRestarts = 1
	id, err := l.Submit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	st := waitJob(t, l, id)
	if st.State != Failed || st.ExitCode != 7 || st.Restarts != 1 || !strings.Contains(st.Message, "rank 0") {
		t.Fatalf("got %+v, want failed with exit code 7 after 1 restart naming rank 0", st)
	}
	if n := strings.Count(readLog(t, l, id), "[rank 0] exiting"); n != 2 {
		t.Fatalf("worker ran %d times, want 2 (first run and one restart)", n)
	}
}

var childRE = regexp.MustCompile(`child=(\d+)`)

func TestLocalCancelKillsWorkerProcessGroups(t *testing.T) {
	l, _ := newTestLocal(t, 2)
	id, err := l.Submit(context.Background(), testRequest("sleep", 2, nil))
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for deadline := time.Now().Add(30 * time.Second); len(pids) < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("workers did not start; log:\n%s", readLog(t, l, id))
		}
		pids = pids[:0]
		for _, m := range childRE.FindAllStringSubmatch(readLog(t, l, id), -1) {
			pid, _ := strconv.Atoi(m[1])
			pids = append(pids, pid)
		}
	}
	if st, _ := l.Status(context.Background(), id); st.State != Running {
		t.Fatalf("state %s while workers run, want running", st.State)
	}
	if err := l.Cancel(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	st, _ := l.Status(context.Background(), id)
	if st.State != Cancelled {
		t.Fatalf("state %s after Cancel, want cancelled", st.State)
	}
	for _, pid := range pids {
		if running(pid) {
			t.Errorf("process %d started by a worker survived Cancel", pid)
		}
	}
}

func TestLocalQueueRunsHigherPriorityFirstWithinBudget(t *testing.T) {
	l, _ := newTestLocal(t, 1)
	dir := t.TempDir()
	release, order := filepath.Join(dir, "release"), filepath.Join(dir, "order")
	blocker, err := l.Submit(context.Background(), testRequest("wait-file", 1, map[string]string{envFile: release}))
	if err != nil {
		t.Fatal(err)
	}
	var ids []JobID
	for _, job := range []struct {
		name     string
		priority int
	}{{"low", 0}, {"high", 5}, {"low2", 0}} {
		req := testRequest("append", 1, map[string]string{envFile: order, "NAME": job.name})
		req.Priority = job.priority
		id, err := l.Submit(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for _, id := range ids {
		if st, _ := l.Status(context.Background(), id); st.State != Queued {
			t.Fatalf("job %s is %s while the budget is used up, want queued", id, st.State)
		}
	}
	if err := l.Cancel(context.Background(), ids[2]); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(release, nil, 0o644)
	waitJob(t, l, blocker)
	for _, id := range ids[:2] {
		if st := waitJob(t, l, id); st.State != Succeeded {
			t.Fatalf("job %s: %+v", id, st)
		}
	}
	if st, _ := l.Status(context.Background(), ids[2]); st.State != Cancelled {
		t.Fatalf("job cancelled while queued is %s", st.State)
	}
	if got, _ := os.ReadFile(order); string(got) != "high\nlow\n" {
		t.Fatalf("jobs ran in order %q, want high then low (and low2 not at all)", got)
	}
}

func TestLocalRejectsBadRequests(t *testing.T) {
	l, _ := newTestLocal(t, 2)
	for _, req := range []JobRequest{
		{Workers: 0},
		{Workers: 3},
		{Workers: 1, CPUs: 3},
		{Workers: 1, MaxRestarts: -1},
		{Workers: 1, Env: map[string]string{"A=B": "x"}},
	} {
		if _, err := l.Submit(context.Background(), req); err == nil {
			t.Errorf("%+v: accepted", req)
		}
	}
}

func TestLocalFollowLogsUntilTheJobEnds(t *testing.T) {
	l, _ := newTestLocal(t, 2)
	id, err := l.Submit(context.Background(), testRequest("allreduce", 2, nil))
	if err != nil {
		t.Fatal(err)
	}
	r, err := l.Logs(context.Background(), id, true)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out, err := io.ReadAll(r) // returns only once the job has ended
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(out), "sum=[3 30]") != 2 {
		t.Fatalf("followed log lacks both workers' results:\n%s", out)
	}
}

func TestDetachedSupervisorRunsAndCancels(t *testing.T) {
	l, store := newTestLocal(t, 2)
	super := []string{os.Args[0], argSuper, store.Root, "2"}
	id, err := l.SubmitDetached(context.Background(), testRequest("allreduce", 2, nil), super)
	if err != nil {
		t.Fatal(err)
	}
	r, err := l.Logs(context.Background(), id, true)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(r)
	st, _ := l.Status(context.Background(), id)
	if st.State != Succeeded || strings.Count(string(out), "sum=[3 30]") != 2 {
		t.Fatalf("detached job: %+v; log:\n%s", st, out)
	}

	id, err = l.SubmitDetached(context.Background(), testRequest("sleep", 1, nil), super)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(readLog(t, l, id), "started"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("detached worker did not start")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := l.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	if st, _ := l.Status(context.Background(), id); st.State != Cancelled {
		t.Fatalf("detached job after Cancel: %s", st.State)
	}
}

func TestStoreListAndGet(t *testing.T) {
	store := &Store{Root: filepath.Join(t.TempDir(), "jobs")}
	if recs, err := store.List(); err != nil || len(recs) != 0 {
		t.Fatalf("List of a missing directory = %v, %v", recs, err)
	}
	a, err := store.Create("local", JobRequest{Name: "a", Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := store.Create("slurm", JobRequest{Name: "b", Workers: 2})
	recs, err := store.List()
	if err != nil || len(recs) != 2 || recs[0].ID != b.ID || recs[1].ID != a.ID {
		t.Fatalf("List = %v, %v; want b then a", recs, err)
	}
	for _, id := range []JobID{"nope", "../x", ""} {
		if _, err := store.Get(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", id, err)
		}
	}
}

func TestLocalStatusNoticesAVanishedSupervisor(t *testing.T) {
	l, store := newTestLocal(t, 2)
	rec, err := store.Create("local", JobRequest{Name: "orphan", Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	rec.State, rec.SupervisorPID = Running, gone.Process.Pid
	if err := store.Put(rec); err != nil {
		t.Fatal(err)
	}
	st, err := l.Status(context.Background(), rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != Failed || !strings.Contains(st.Message, "supervisor process") {
		t.Fatalf("status %+v, want failed because the supervisor is gone", st)
	}
}

func TestDetachedJobsQueueAcrossSupervisors(t *testing.T) {
	l, store := newTestLocal(t, 1)
	super := []string{os.Args[0], argSuper, store.Root, "1"}
	dir := t.TempDir()
	release, order := filepath.Join(dir, "release"), filepath.Join(dir, "order")
	blocker, err := l.SubmitDetached(context.Background(), testRequest("wait-file", 1, map[string]string{envFile: release}), super)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if st, _ := l.Status(context.Background(), blocker); st.State == Running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first detached job did not start")
		}
	}
	var ids []JobID
	for _, job := range []struct {
		name     string
		priority int
	}{{"low", 0}, {"high", 5}} {
		req := testRequest("append", 1, map[string]string{envFile: order, "NAME": job.name})
		req.Priority = job.priority
		id, err := l.SubmitDetached(context.Background(), req, super)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	time.Sleep(3 * pollInterval) // give a wrongly eager supervisor the chance to start
	for _, id := range ids {
		if st, _ := l.Status(context.Background(), id); st.State != Queued {
			t.Fatalf("job %s is %s while another job holds the only CPU, want queued", id, st.State)
		}
	}
	os.WriteFile(release, nil, 0o644)
	for _, id := range append(ids, blocker) {
		r, err := l.Logs(context.Background(), id, true)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(r) // returns once the job has ended
		if st, _ := l.Status(context.Background(), id); st.State != Succeeded {
			t.Fatalf("job %s: %+v", id, st)
		}
	}
	if got, _ := os.ReadFile(order); string(got) != "high\nlow\n" {
		t.Fatalf("detached jobs ran in order %q, want high then low", got)
	}
}
