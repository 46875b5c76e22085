package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mlenv/mlenv/launch"
	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/track"
	"github.com/mlenv/mlenv/train"
)

// jobsExperiment is the tracking experiment that holds one run per job.
const jobsExperiment = "mlenv-jobs"

// jobRunFile links a job to its tracking run, in the job's state directory.
const jobRunFile = "tracking.json"

// jobRun is the content of jobRunFile. Ended is set once the run holds
// the job's final state and logs, so that later commands leave it alone.
type jobRun struct {
	URI   string `json:"uri"`
	RunID string `json:"run_id"`
	Ended bool   `json:"ended"`
}

// jobsTracking returns the client of the tracking server at uri, or nil
// when uri is empty: the job records then stay in the state directory only.
func jobsTracking(uri string) (*track.Client, error) {
	if uri == "" {
		return nil, nil
	}
	if !strings.HasPrefix(uri, "http://") && !strings.HasPrefix(uri, "https://") {
		return nil, usagef("--uri %q: job records need an http(s) tracking server", uri)
	}
	return newTrackingClient(uri)
}

// recordJob creates the job's run in experiment mlenv-jobs, named after
// the job, with the request as params and the status as tags, links it in
// the job's directory and brings it up to date with the job.
func recordJob(ctx context.Context, c *track.Client, js *launch.Store, e launch.Executor, id launch.JobID) error {
	rec, err := js.Get(id)
	if err != nil {
		return err
	}
	exp, err := experimentID(ctx, c, jobsExperiment)
	if err != nil {
		return fmt.Errorf("job %s: tracking experiment %s: %w", id, jobsExperiment, err)
	}
	run, err := c.CreateRun(ctx, store.RunCreate{ExperimentID: exp, RunName: rec.Name,
		StartTime: rec.Submitted.UnixMilli(), Tags: jobTags(rec.Status)})
	if err != nil {
		return fmt.Errorf("job %s: creating its tracking run: %w", id, err)
	}
	sink := &trackSink{ctx: ctx, client: c, run: run}
	r := rec.Request
	err = sink.LogParams(map[string]string{"args": strings.Join(r.Args, " "), "workers": strconv.Itoa(r.Workers),
		"max_restarts": strconv.Itoa(r.MaxRestarts), "cpus": strconv.Itoa(r.CPUs), "gpus": strconv.Itoa(r.GPUs),
		"executor": rec.Executor, "priority": strconv.Itoa(r.Priority)})
	if err != nil {
		return fmt.Errorf("job %s: run %s: %w", id, run.Info.RunID, err)
	}
	if err := writeJobRun(js, id, jobRun{URI: c.URI(), RunID: run.Info.RunID}); err != nil {
		return err
	}
	st, err := e.Status(ctx, id)
	if err != nil {
		return err
	}
	return syncJobRun(ctx, c, js, e, st)
}

// jobTags are the tags that describe the job's status on its run.
func jobTags(st launch.Status) []store.Tag {
	return []store.Tag{{Key: "mlenv.job.id", Value: string(st.ID)}, {Key: "mlenv.job.executor", Value: st.Executor},
		{Key: "mlenv.job.state", Value: string(st.State)}, {Key: "mlenv.job.workers", Value: strconv.Itoa(st.Workers)},
		{Key: "mlenv.job.restarts", Value: strconv.Itoa(st.Restarts)}, {Key: "mlenv.job.exit_code", Value: strconv.Itoa(st.ExitCode)},
		{Key: "mlenv.job.message", Value: st.Message}}
}

// runStatus maps a final job state to an MLflow run status.
func runStatus(s launch.State) train.Status {
	switch s {
	case launch.Succeeded:
		return train.Finished
	case launch.Cancelled:
		return train.Killed
	}
	return train.Failed
}

// syncJobRun brings the run linked to job st (if any, and not yet ended)
// up to date: the status tags, and once the job is final the exit code
// and restarts as metrics, the logs as artifacts logs/job.log and
// logs/rank-N.log, and the run's end status. Two processes may end the
// same run concurrently (the local supervisor and a waiting submitter);
// the result is the same, with the metrics logged twice.
func syncJobRun(ctx context.Context, c *track.Client, js *launch.Store, e launch.Executor, st launch.Status) error {
	sink, link, err := tagJobRun(ctx, c, js, st)
	if err != nil || sink == nil || !st.State.Final() {
		return err
	}
	run := sink.run
	err = sink.LogMetrics(st.Restarts, cmpTime(st.Finished), map[string]float64{"exit_code": float64(st.ExitCode), "restarts": float64(st.Restarts)})
	if err != nil {
		return fmt.Errorf("job %s: run %s: %w", st.ID, run.Info.RunID, err)
	}
	if err := uploadJobLogs(ctx, sink, e, st.ID); err != nil {
		return err
	}
	if err := sink.Finish(runStatus(st.State)); err != nil {
		return fmt.Errorf("job %s: ending run %s: %w", st.ID, run.Info.RunID, err)
	}
	link.Ended = true
	return writeJobRun(js, st.ID, *link)
}

// tagJobRun brings the status tags of the run linked to job st up to
// date and returns a sink on that run and the link; a nil sink when the
// job has no run on c or its run has ended.
func tagJobRun(ctx context.Context, c *track.Client, js *launch.Store, st launch.Status) (*trackSink, *jobRun, error) {
	link, err := readJobRun(js, st.ID)
	if err != nil || link == nil || link.Ended || link.URI != c.URI() {
		return nil, nil, err
	}
	run, err := c.GetRun(ctx, link.RunID)
	if err != nil {
		return nil, nil, fmt.Errorf("job %s: tracking run %s: %w", st.ID, link.RunID, err)
	}
	if err := c.LogBatch(ctx, store.Batch{RunID: run.Info.RunID, Tags: jobTags(st)}); err != nil {
		return nil, nil, fmt.Errorf("job %s: run %s: %w", st.ID, run.Info.RunID, err)
	}
	return &trackSink{ctx: ctx, client: c, run: run}, link, nil
}

// jobSyncEvery is how often the supervisor of a running job brings its
// run up to date, so that the run's page shows the logs as they grow.
const jobSyncEvery = 3 * time.Second

// runFollowed runs local job id to its end (see launch.Local.Run) while
// followJobRun keeps its run on c, if any, up to date.
func runFollowed(ctx context.Context, c *track.Client, js *launch.Store, local *launch.Local, id launch.JobID) (launch.Status, error) {
	if c == nil {
		return local.Run(ctx, id)
	}
	live, stop := context.WithCancel(ctx)
	var following sync.WaitGroup
	following.Go(func() { followJobRun(live, c, js, local, id, jobSyncEvery) })
	st, err := local.Run(ctx, id)
	stop()
	following.Wait()
	return st, err
}

// followJobRun brings the run of job id up to date every interval while
// the job runs, until ctx ends: its status tags (restarts included) and
// the logs written so far, uploaded again whole. Failures are logged and
// retried at the next tick. The caller cancels ctx and waits for
// followJobRun to return before the final syncJobRun, so that no late
// upload replaces the final logs.
func followJobRun(ctx context.Context, c *track.Client, js *launch.Store, e launch.Executor, id launch.JobID, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := liveJobRun(ctx, c, js, e, id); err != nil && ctx.Err() == nil {
			slog.Warn("updating the job's tracking run", "job", id, "err", err)
		}
	}
}

// liveJobRun brings the run of job id up to date if the job has not
// ended: status tags and the logs so far (see uploadJobLogs).
func liveJobRun(ctx context.Context, c *track.Client, js *launch.Store, e launch.Executor, id launch.JobID) error {
	st, err := e.Status(ctx, id)
	if err != nil || st.State.Final() { // the final state is synced once, by the caller
		return err
	}
	sink, _, err := tagJobRun(ctx, c, js, st)
	if err != nil || sink == nil {
		return err
	}
	return uploadJobLogs(ctx, sink, e, id)
}

// cmpTime returns t, or now when t is zero.
func cmpTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

// rankPrefix matches the rank prefix of a job log line: "[rank N] " from
// the local and Kubernetes executors, "N: " from Slurm's srun --label.
var rankPrefix = regexp.MustCompile(`^(?:\[rank (\d+)\] |\s*(\d+): )`)

// uploadJobLogs uploads the job's combined log as logs/job.log and each
// worker's lines, prefix removed, as logs/rank-N.log.
func uploadJobLogs(ctx context.Context, sink *trackSink, e launch.Executor, id launch.JobID) error {
	r, err := e.Logs(ctx, id, false)
	if err != nil {
		return err
	}
	defer r.Close()
	dir, err := os.MkdirTemp("", "mlenv-job-logs-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := splitJobLog(r, dir); err != nil {
		return fmt.Errorf("job %s logs: %w", id, err)
	}
	if err := sink.LogArtifact(dir, "logs"); err != nil {
		return fmt.Errorf("job %s: uploading logs: %w", id, err)
	}
	return nil
}

// splitJobLog copies the combined log r to dir/job.log and each rank's
// lines to dir/rank-N.log.
func splitJobLog(r io.Reader, dir string) error {
	files := map[string]*os.File{}
	open := func(name string) (*os.File, error) {
		if f, ok := files[name]; ok {
			return f, nil
		}
		f, err := os.Create(filepath.Join(dir, name))
		files[name] = f
		return f, err
	}
	err := func() error {
		all, err := open("job.log")
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(all, line)
			m := rankPrefix.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			f, err := open("rank-" + m[1] + m[2] + ".log")
			if err != nil {
				return err
			}
			fmt.Fprintln(f, line[len(m[0]):])
		}
		return sc.Err()
	}()
	for _, f := range files {
		if f != nil {
			err = errors.Join(err, f.Close())
		}
	}
	return err
}

// readJobRun reads the job's link to its run; nil when it has none.
func readJobRun(js *launch.Store, id launch.JobID) (*jobRun, error) {
	b, err := os.ReadFile(filepath.Join(js.Dir(id), jobRunFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var link jobRun
	if err := json.Unmarshal(b, &link); err != nil {
		return nil, fmt.Errorf("job %s: %s: %w", id, filepath.Join(js.Dir(id), jobRunFile), err)
	}
	return &link, nil
}

// writeJobRun writes the job's link to its run atomically.
func writeJobRun(js *launch.Store, id launch.JobID, link jobRun) error {
	b, err := json.Marshal(link)
	if err != nil {
		return err
	}
	path := filepath.Join(js.Dir(id), jobRunFile)
	if err := os.WriteFile(path+".tmp", b, 0o644); err != nil {
		return fmt.Errorf("job %s: %w", id, err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return fmt.Errorf("job %s: %w", id, err)
	}
	return nil
}

// serverJobs returns the status of every job recorded in experiment
// mlenv-jobs, newest first, read from the runs' tags; none when the
// experiment does not exist yet. filter, when not empty, is an MLflow run
// filter such as tags.`mlenv.job.id` = 'ID'.
func serverJobs(ctx context.Context, c *track.Client, filter string) ([]launch.Status, error) {
	exp, err := c.GetExperimentByName(ctx, jobsExperiment)
	out := []launch.Status{} // "[]", not null, in JSON
	if store.IsNotFound(err) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tracking experiment %s: %w", jobsExperiment, err)
	}
	for token := ""; ; {
		runs, next, err := c.SearchRuns(ctx, store.RunSearch{ExperimentIDs: []string{exp.ExperimentID},
			Search: store.Search{Filter: filter, OrderBy: []string{"attributes.start_time DESC"}, PageToken: token}})
		if err != nil {
			return nil, fmt.Errorf("tracking experiment %s: %w", jobsExperiment, err)
		}
		for _, r := range runs {
			out = append(out, runJobStatus(r))
		}
		if token = next; token == "" {
			return out, nil
		}
	}
}

// runJobStatus reads a job's status back from its run.
func runJobStatus(r store.Run) launch.Status {
	tags := map[string]string{}
	for _, t := range r.Tags {
		tags[t.Key] = t.Value
	}
	atoi := func(k string) int { n, _ := strconv.Atoi(tags[k]); return n }
	st := launch.Status{ID: launch.JobID(tags["mlenv.job.id"]), Name: r.Info.RunName, Executor: tags["mlenv.job.executor"],
		State: launch.State(tags["mlenv.job.state"]), Workers: atoi("mlenv.job.workers"), Restarts: atoi("mlenv.job.restarts"),
		ExitCode: atoi("mlenv.job.exit_code"), Message: tags["mlenv.job.message"], Submitted: time.UnixMilli(r.Info.StartTime).UTC()}
	if r.Info.EndTime != nil {
		st.Finished = time.UnixMilli(*r.Info.EndTime).UTC()
	}
	return st
}
