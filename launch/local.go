package launch

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/mlenv/mlenv/collective"
)

// killGrace is how long workers get between SIGTERM and SIGKILL.
const killGrace = 5 * time.Second

// EnvJobID names the job to its workers.
const EnvJobID = "MLENV_JOB_ID"

// Local runs jobs as processes on this machine. Jobs wait in a priority
// queue until their CPUs (Workers*CPUs) fit in the budget; the queue is
// strict, so a large job at the head is not overtaken by smaller ones behind
// it. Workers of a job rendezvous on a free loopback port. When a worker
// fails, the others are stopped and, while restarts remain, all workers are
// started again with MLENV_RESTART_COUNT increased; resuming from the last
// checkpoint is the worker's business.
//
// Worker output goes to the job's log in the Store, each line prefixed with
// "[rank N] ". Local is safe for concurrent use.
type Local struct {
	store  *Store
	cpus   int
	logger *slog.Logger

	mu    sync.Mutex
	queue jobQueue
	used  int // CPUs held by running jobs
	seq   int
	jobs  map[JobID]*localJob
}

var _ Executor = (*Local)(nil)

type localJob struct {
	id       JobID
	req      JobRequest
	priority int
	seq      int
	index    int // in the heap; -1 once started or removed
	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{}
}

// NewLocal returns a local executor keeping records in store with a budget
// of cpus CPUs (runtime.NumCPU() when cpus <= 0). A nil logger discards.
func NewLocal(store *Store, cpus int, logger *slog.Logger) *Local {
	if cpus <= 0 {
		cpus = runtime.NumCPU()
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Local{store: store, cpus: cpus, logger: logger, jobs: map[JobID]*localJob{}}
}

// Submit records the job and queues it in this process.
func (l *Local) Submit(ctx context.Context, req JobRequest) (JobID, error) {
	rec, err := l.create(req)
	if err != nil {
		return "", err
	}
	return rec.ID, l.enqueue(rec)
}

// create validates req against the budget and writes its first record.
func (l *Local) create(req JobRequest) (*Record, error) {
	req, err := req.withDefaults()
	if err == nil {
		req, err = withBinary(req)
	}
	if err == nil && req.Workers*req.CPUs > l.cpus {
		err = fmt.Errorf("%d workers x %d CPUs = %d CPUs, more than the budget of %d", req.Workers, req.CPUs, req.Workers*req.CPUs, l.cpus)
	}
	if err != nil {
		return nil, fmt.Errorf("local job: %w", err)
	}
	return l.store.Create("local", req)
}

// SubmitDetached records the job and starts supervisor (a command line,
// typically `mlenv jobs supervise --state-dir DIR`) with the job id appended,
// as a process in its own session that runs the job with Run and outlives
// the caller. Its output goes to supervisor.log in the job directory. The
// supervisor must read its standard input to EOF before calling Run: the
// input closes once the record holds the supervisor's pid, so the two
// processes never write the record at the same time.
func (l *Local) SubmitDetached(ctx context.Context, req JobRequest, supervisor []string) (JobID, error) {
	rec, err := l.create(req)
	if err != nil {
		return "", err
	}
	logf, err := os.Create(l.store.Dir(rec.ID) + "/supervisor.log")
	if err != nil {
		return "", err
	}
	defer logf.Close()
	cmd := exec.Command(supervisor[0], append(supervisor[1:], string(rec.ID))...)
	cmd.Stdout, cmd.Stderr = logf, logf
	gate, err := cmd.StdinPipe()
	if err != nil {
		return "", err
	}
	defer gate.Close() // lets the supervisor start, once the record names it
	ownSession(cmd)
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("job %s: starting its supervisor: %w", rec.ID, err)
	}
	rec.SupervisorPID = cmd.Process.Pid
	go cmd.Wait() // reap it if this process lives that long
	return rec.ID, l.store.Put(rec)
}

// Run runs the recorded job id in this process and waits until it ends;
// it is what a detached supervisor calls. Cancelling ctx cancels the job.
//
// Jobs of detached supervisors queue across processes through the Store:
// such a job starts only when no queued supervised job comes before it
// (higher priority, or equal priority and submitted earlier) and the CPUs
// of the running supervised jobs leave room for it in this executor's
// budget.
func (l *Local) Run(ctx context.Context, id JobID) (Status, error) {
	rec, err := l.store.Get(id)
	if err != nil {
		return Status{}, err
	}
	if rec.State.Final() {
		return rec.Status, nil
	}
	if rec.SupervisorPID != 0 {
		if err := l.waitTurn(ctx, rec); err != nil {
			l.finish(id, Cancelled, 0, "cancelled while queued")
			return l.Status(context.Background(), id)
		}
	}
	if err := l.enqueue(rec); err != nil {
		return Status{}, err
	}
	stop := context.AfterFunc(ctx, func() { l.Cancel(context.Background(), id) })
	defer stop()
	return l.Wait(context.Background(), id)
}

// waitTurn blocks until rec may start by the rules of Run, then records it
// running, or until ctx ends.
func (l *Local) waitTurn(ctx context.Context, rec *Record) error {
	for {
		ok, err := l.claimTurn(rec)
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

// claimTurn checks, under the store's queue lock, whether rec may start,
// and if so records it running so that others count its CPUs.
func (l *Local) claimTurn(rec *Record) (bool, error) {
	unlock, err := lockFile(filepath.Join(l.store.Root, ".queue.lock"))
	if err != nil {
		return false, fmt.Errorf("job %s: %w", rec.ID, err)
	}
	defer unlock()
	recs, err := l.store.List()
	if err != nil {
		return false, err
	}
	used := 0
	for _, o := range recs {
		if o.ID == rec.ID || o.Executor != "local" || o.SupervisorPID == 0 || o.State.Final() {
			continue
		}
		if st, err := l.Status(context.Background(), o.ID); err != nil || st.State.Final() {
			continue // its supervisor is gone
		}
		switch {
		case o.State == Running:
			used += o.Request.Workers * o.Request.CPUs
		case o.Request.Priority > rec.Request.Priority,
			o.Request.Priority == rec.Request.Priority && o.Submitted.Before(rec.Submitted):
			return false, nil // queued ahead of rec
		}
	}
	if used+rec.Request.Workers*rec.Request.CPUs > l.cpus {
		return false, nil
	}
	_, err = l.store.update(rec.ID, func(r *Record) { r.State, r.Started = Running, time.Now().UTC() })
	return err == nil, err
}

func (l *Local) enqueue(rec *Record) error {
	ctx, cancel := context.WithCancel(context.Background())
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.jobs[rec.ID]; ok {
		cancel()
		return fmt.Errorf("job %s: already queued in this executor", rec.ID)
	}
	l.seq++
	j := &localJob{id: rec.ID, req: rec.Request, priority: rec.Request.Priority, seq: l.seq,
		ctx: ctx, cancel: cancel, done: make(chan struct{})}
	l.jobs[rec.ID] = j
	heap.Push(&l.queue, j)
	l.logger.Info("job queued", "job", rec.ID, "workers", rec.Request.Workers, "priority", j.priority)
	l.schedule()
	return nil
}

// schedule starts queued jobs in priority order while they fit. l.mu is held.
func (l *Local) schedule() {
	for l.queue.Len() > 0 {
		j := l.queue[0]
		need := j.req.Workers * j.req.CPUs
		if l.used+need > l.cpus {
			return
		}
		heap.Pop(&l.queue)
		l.used += need
		go l.run(j, need)
	}
}

// Wait blocks until a job of this executor ends and returns its status.
func (l *Local) Wait(ctx context.Context, id JobID) (Status, error) {
	l.mu.Lock()
	j, ok := l.jobs[id]
	l.mu.Unlock()
	if !ok {
		return Status{}, fmt.Errorf("job %s: not run by this executor: %w", id, ErrNotFound)
	}
	select {
	case <-j.done:
	case <-ctx.Done():
		return Status{}, ctx.Err()
	}
	return l.Status(ctx, id)
}

// run executes a started job to its end and frees its CPUs.
func (l *Local) run(j *localJob, cpus int) {
	defer func() {
		l.mu.Lock()
		l.used -= cpus
		l.schedule()
		l.mu.Unlock()
		close(j.done)
	}()
	l.setState(j.id, func(r *Record) { r.State, r.Started = Running, time.Now().UTC() })
	l.logger.Info("job started", "job", j.id)
	for restarts := 0; ; restarts++ {
		code, msg := l.attempt(j, restarts)
		switch {
		case j.ctx.Err() != nil:
			l.finish(j.id, Cancelled, code, "cancelled")
			return
		case code == 0:
			l.finish(j.id, Succeeded, 0, "")
			return
		case restarts >= j.req.MaxRestarts:
			l.finish(j.id, Failed, code, msg)
			return
		}
		l.logger.Warn("job restarting", "job", j.id, "reason", msg, "restart", restarts+1, "max", j.req.MaxRestarts)
		l.setState(j.id, func(r *Record) { r.Restarts, r.Message = restarts+1, msg })
	}
}

func (l *Local) finish(id JobID, s State, code int, msg string) {
	l.logger.Info("job finished", "job", id, "state", s, "exit_code", code)
	l.setState(id, func(r *Record) {
		r.State, r.ExitCode, r.Message, r.Finished = s, code, msg, time.Now().UTC()
	})
}

func (l *Local) setState(id JobID, f func(*Record)) {
	if _, err := l.store.update(id, f); err != nil {
		l.logger.Error("job record not written", "job", id, "err", err)
	}
}

// attempt runs all workers once. It returns 0 when all succeed, otherwise
// the first failing worker's exit code (-1 for a signal or a start failure)
// and a message saying which worker failed how.
func (l *Local) attempt(j *localJob, restart int) (int, string) {
	logf, err := os.OpenFile(l.store.LogPath(j.id), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return -1, fmt.Sprintf("opening the job log: %v", err)
	}
	defer logf.Close()
	if restart > 0 {
		fmt.Fprintf(logf, "[mlenv] restart %d of %d\n", restart, j.req.MaxRestarts)
	}
	port, err := freePort()
	if err != nil {
		return -1, fmt.Sprintf("finding a rendezvous port: %v", err)
	}
	var mu sync.Mutex
	type exit struct {
		rank int
		err  error
	}
	exits := make(chan exit, j.req.Workers)
	var cmds []*exec.Cmd
	for rank := range j.req.Workers {
		w := &lineWriter{prefix: fmt.Appendf(nil, "[rank %d] ", rank), mu: &mu, out: logf}
		cmd := exec.Command(j.req.Binary, j.req.Args...)
		cmd.Env = workerEnv(j, rank, port, restart)
		cmd.Stdout, cmd.Stderr = w, w
		cmd.WaitDelay = killGrace
		ownGroup(cmd)
		if err := cmd.Start(); err != nil {
			stopAll(cmds)
			for range cmds {
				<-exits
			}
			return -1, fmt.Sprintf("starting rank %d: %v", rank, err)
		}
		cmds = append(cmds, cmd)
		go func() {
			err := cmd.Wait()
			w.Flush()
			exits <- exit{rank, err}
		}()
	}
	code, msg := 0, ""
	stopped := false
	for range cmds {
		var e exit
		select {
		case e = <-exits:
		case <-j.ctx.Done():
			if !stopped {
				stopAll(cmds)
				stopped = true
			}
			e = <-exits
		}
		if e.err != nil && code == 0 && !stopped {
			code, msg = exitCode(e.err), fmt.Sprintf("rank %d: %v", e.rank, e.err)
			stopAll(cmds) // the others cannot finish without it
			stopped = true
		}
	}
	if stopped && code == 0 {
		code = -1
	}
	return code, msg
}

// workerEnv is the worker environment contract for one rank.
func workerEnv(j *localJob, rank, port, restart int) []string {
	env := os.Environ()
	for k, v := range j.req.Env {
		env = append(env, k+"="+v)
	}
	return append(env,
		collective.EnvRank+"="+strconv.Itoa(rank),
		collective.EnvWorldSize+"="+strconv.Itoa(j.req.Workers),
		collective.EnvRendezvous+"=127.0.0.1:"+strconv.Itoa(port),
		collective.EnvRestartCount+"="+strconv.Itoa(restart),
		EnvJobID+"="+string(j.id),
	)
}

// stopAll sends SIGTERM to every worker's process group and SIGKILL after
// killGrace to those still there.
func stopAll(cmds []*exec.Cmd) {
	for _, c := range cmds {
		signalGroup(c.Process.Pid, syscall.SIGTERM)
	}
	time.AfterFunc(killGrace, func() {
		for _, c := range cmds {
			signalGroup(c.Process.Pid, syscall.SIGKILL)
		}
	})
}

// exitCode is a process's exit code, -1 when it died of a signal or did
// not run.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Status returns the job's record. A job whose detached supervisor has
// vanished without finishing it is marked failed.
func (l *Local) Status(ctx context.Context, id JobID) (Status, error) {
	rec, err := l.store.Get(id)
	if err != nil {
		return Status{}, err
	}
	l.mu.Lock()
	_, mine := l.jobs[id]
	l.mu.Unlock()
	if !mine && !rec.State.Final() && rec.SupervisorPID != 0 && !alive(rec.SupervisorPID) {
		rec, err = l.store.update(id, func(r *Record) {
			r.State, r.ExitCode, r.Finished = Failed, -1, time.Now().UTC()
			r.Message = fmt.Sprintf("supervisor process %d exited without finishing the job", r.SupervisorPID)
		})
		if err != nil {
			return Status{}, err
		}
	}
	return rec.Status, nil
}

// Logs returns the job's combined log; see Executor.
func (l *Local) Logs(ctx context.Context, id JobID, follow bool) (io.ReadCloser, error) {
	return openJobLog(ctx, l.store, id, follow, l.Status)
}

// Cancel stops the job: a queued job leaves the queue, a running one has
// its workers' process groups terminated. A job run by a detached
// supervisor is cancelled by signalling the supervisor; Cancel then waits
// (until ctx ends) for the record to say the job ended.
func (l *Local) Cancel(ctx context.Context, id JobID) error {
	l.mu.Lock()
	j, mine := l.jobs[id]
	if mine && j.index >= 0 {
		heap.Remove(&l.queue, j.index)
		l.mu.Unlock()
		j.cancel()
		l.finish(id, Cancelled, 0, "cancelled while queued")
		close(j.done)
		return nil
	}
	l.mu.Unlock()
	if mine {
		j.cancel()
		<-j.done
		return nil
	}
	rec, err := l.store.Get(id)
	if err != nil || rec.State.Final() {
		return err
	}
	if rec.SupervisorPID == 0 || !alive(rec.SupervisorPID) {
		_, err := l.Status(ctx, id)
		return err
	}
	if err := signalProcess(rec.SupervisorPID, syscall.SIGTERM); err != nil {
		return fmt.Errorf("job %s: signalling supervisor %d: %w", id, rec.SupervisorPID, err)
	}
	for {
		st, err := l.Status(ctx, id)
		if err != nil || st.State.Final() {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("job %s: waiting for it to stop: %w", id, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

// jobQueue is a heap of queued jobs: higher priority first, then earlier
// submission.
type jobQueue []*localJob

func (q jobQueue) Len() int { return len(q) }
func (q jobQueue) Less(a, b int) bool {
	if q[a].priority != q[b].priority {
		return q[a].priority > q[b].priority
	}
	return q[a].seq < q[b].seq
}
func (q jobQueue) Swap(a, b int) {
	q[a], q[b] = q[b], q[a]
	q[a].index, q[b].index = a, b
}
func (q *jobQueue) Push(x any) {
	j := x.(*localJob)
	j.index = len(*q)
	*q = append(*q, j)
}
func (q *jobQueue) Pop() any {
	old := *q
	j := old[len(old)-1]
	j.index = -1
	*q = old[:len(old)-1]
	return j
}
