// Package launch runs mlenv jobs on an execution engine: local processes
// (the default, no setup), Slurm and Kubernetes. mlenv never schedules a
// cluster itself; it hands each engine a job of N identical workers and
// tracks it.
//
// Every executor starts each worker with the same binary and arguments and
// the environment contract of package collective: MLENV_RANK,
// MLENV_WORLD_SIZE, MLENV_RENDEZVOUS (host:port of rank 0) and
// MLENV_RESTART_COUNT, either set directly or derived by
// collective.ConfigFromEnv from the engine's own variables (Slurm's
// SLURM_PROCID, Kubernetes' JOB_COMPLETION_INDEX).
package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// State is where a job is in its life.
type State string

// Job states. Succeeded, Failed and Cancelled are final.
const (
	Queued    State = "queued"
	Running   State = "running"
	Succeeded State = "succeeded"
	Failed    State = "failed"
	Cancelled State = "cancelled"
)

// Final reports whether a job in state s will not change any more.
func (s State) Final() bool { return s == Succeeded || s == Failed || s == Cancelled }

// JobID names a job across executors and processes. It is mlenv's own id,
// not the engine's (a Slurm job number or a Kubernetes name is kept in the
// job's Record).
type JobID string

// ErrNotFound is returned for a JobID that no executor knows.
var ErrNotFound = errors.New("job not found")

// JobRequest describes a job of identical workers. The zero values of the
// optional fields are the documented defaults.
type JobRequest struct {
	Name    string   // a label for people; defaults to the first argument
	Args    []string // arguments given to the binary on every worker
	Workers int      // number of workers, at least 1

	// Binary is the program every worker runs; empty means the running
	// mlenv executable (os.Executable). For Slurm it must exist at the same
	// path on the compute nodes.
	Binary string
	Env    map[string]string // extra environment for every worker

	Priority    int // local executor: higher runs first; equal priorities run in submission order
	MaxRestarts int // restarts of all workers after a worker fails; 0 means none

	CPUs   int    // CPUs per worker (local budget, Slurm --cpus-per-task, Kubernetes request); default 1
	Memory string // memory per worker in Kubernetes quantity form ("4Gi"); empty means unset
	GPUs   int    // GPUs per worker (Slurm --gres=gpu:N, Kubernetes nvidia.com/gpu)

	Image     string // Kubernetes: container image holding the mlenv binary
	Namespace string // Kubernetes: namespace; default "default"
	Partition string // Slurm: partition; empty means the cluster default
}

// withDefaults returns r with defaults filled in, or the first invalid field.
func (r JobRequest) withDefaults() (JobRequest, error) {
	switch {
	case r.Workers < 1:
		return r, fmt.Errorf("workers %d: must be at least 1", r.Workers)
	case r.CPUs < 0:
		return r, fmt.Errorf("cpus %d: must not be negative", r.CPUs)
	case r.GPUs < 0:
		return r, fmt.Errorf("gpus %d: must not be negative", r.GPUs)
	case r.MaxRestarts < 0:
		return r, fmt.Errorf("max restarts %d: must not be negative", r.MaxRestarts)
	}
	for k := range r.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return r, fmt.Errorf("environment variable name %q: must be non-empty without '='", k)
		}
	}
	if r.CPUs == 0 {
		r.CPUs = 1
	}
	if r.Name == "" && len(r.Args) > 0 {
		r.Name = r.Args[0]
	}
	return r, nil
}

// withBinary fills in the running executable as r's binary when r names
// none.
func withBinary(r JobRequest) (JobRequest, error) {
	if r.Binary != "" {
		return r, nil
	}
	var err error
	if r.Binary, err = os.Executable(); err != nil {
		return r, fmt.Errorf("finding the mlenv binary: %w", err)
	}
	return r, nil
}

// Status is a job's observable state.
type Status struct {
	ID        JobID     `json:"id"`
	Name      string    `json:"name"`
	Executor  string    `json:"executor"`
	State     State     `json:"state"`
	Workers   int       `json:"workers"`
	ExitCode  int       `json:"exit_code"` // first failing worker's code; -1 when killed by a signal
	Restarts  int       `json:"restarts"`
	Message   string    `json:"message,omitempty"` // why it failed, when known
	Submitted time.Time `json:"submitted"`
	Started   time.Time `json:"started,omitzero"`
	Finished  time.Time `json:"finished,omitzero"`
}

// Executor runs jobs on one engine. Implementations persist what they learn
// in a Store, so Status, Logs and Cancel work from another process than the
// one that submitted.
type Executor interface {
	// Submit starts (or queues) the job and returns its id.
	Submit(ctx context.Context, req JobRequest) (JobID, error)
	// Status returns the job's current state, refreshed from the engine.
	Status(ctx context.Context, id JobID) (Status, error)
	// Logs returns the workers' output, each line prefixed with the rank.
	// With follow set the reader stays open and delivers new output until
	// the job ends or ctx is cancelled. The caller closes the reader.
	Logs(ctx context.Context, id JobID, follow bool) (io.ReadCloser, error)
	// Cancel stops a queued or running job and everything it started.
	// Cancelling a finished job is not an error.
	Cancel(ctx context.Context, id JobID) error
}
