package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mlenv/mlenv/job"
	"github.com/mlenv/mlenv/server"
	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/track"
	"github.com/mlenv/mlenv/train"
)

// trackSink records a training run on a tracking server through the Go
// client: params, tags and metrics with log-batch, the model artifact
// through the server's artifact proxy, the end status with EndRun.
type trackSink struct {
	ctx    context.Context
	client *track.Client
	run    *store.Run

	uploads int // checkpoints handed to ckpts, for unique artifact names
	ckpts   *checkpointUploads
	stale   []string // uploaded checkpoints to delete, older than the newest (used by ckpts)
}

var _ train.MetricSink = (*trackSink)(nil)

// startTracking opens the tracking the spec names and starts a run in its
// experiment. For "embedded" it serves the store under spec.Tracking.Dir
// in-process on a free local port until stop is called.
func startTracking(ctx context.Context, spec *job.Spec) (sink *trackSink, stop func(), err error) {
	uri, stop := spec.Tracking.URI, func() {}
	if uri == job.TrackingEmbedded {
		if uri, stop, err = serveEmbedded(ctx, spec.Tracking.Dir); err != nil {
			return nil, nil, err
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	c, err := track.NewClient(uri, track.ClientOptions{Retries: 2})
	if err != nil {
		return nil, nil, fmt.Errorf("tracking %s: %w", uri, err)
	}
	expID, err := experimentID(ctx, c, spec.Experiment)
	if err != nil {
		return nil, nil, fmt.Errorf("tracking %s: experiment %q: %w", uri, spec.Experiment, err)
	}
	run, err := c.CreateRun(ctx, store.RunCreate{ExperimentID: expID, RunName: spec.Name, StartTime: time.Now().UnixMilli(), UserID: os.Getenv("USER")})
	if err != nil {
		return nil, nil, fmt.Errorf("tracking %s: create run: %w", uri, err)
	}
	return &trackSink{ctx: ctx, client: c, run: run}, stop, nil
}

// serveEmbedded runs the tracking server over dir/mlenv.db and
// dir/artifacts on a free port and returns its URI and a stop function
// that shuts it down, committing every write.
func serveEmbedded(ctx context.Context, dir string) (string, func(), error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", nil, err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", nil, fmt.Errorf("embedded tracking: %w", err)
	}
	srv, err := server.New(ctx, server.Config{Port: 0, DB: "sqlite:///" + filepath.Join(abs, "mlenv.db"), Artifacts: filepath.Join(abs, "artifacts")})
	if err != nil {
		return "", nil, fmt.Errorf("embedded tracking in %s: %w", dir, err)
	}
	// The server outlives ctx's cancellation by SIGINT, so that the run
	// can still record its checkpoint and status.
	srvCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ready, done := make(chan string, 1), make(chan error, 1)
	go func() { done <- srv.Run(srvCtx, func(addr string) { ready <- addr }) }()
	select {
	case addr := <-ready:
		return "http://" + addr, func() { cancel(); <-done }, nil
	case err := <-done:
		cancel()
		return "", nil, fmt.Errorf("embedded tracking in %s: %w", dir, err)
	}
}

func experimentID(ctx context.Context, c *track.Client, name string) (string, error) {
	exp, err := c.GetExperimentByName(ctx, name)
	if err == nil {
		return exp.ExperimentID, nil
	}
	if !store.IsNotFound(err) {
		return "", err
	}
	return c.CreateExperiment(ctx, name)
}

// describe says where the run is recorded.
func (s *trackSink) describe() string {
	return fmt.Sprintf("run %s in experiment %s at %s", s.run.Info.RunID, s.run.Info.ExperimentID, s.client.URI())
}

// logSpec uploads the resolved spec, defaults filled, as the run's
// artifact job.yaml: the complete record of what the run was asked to do.
func (s *trackSink) logSpec(spec *job.Spec) error {
	b, err := spec.YAML()
	if err != nil {
		return err
	}
	return s.logBytes(b, "job.yaml")
}

// logBytes uploads b as the run's artifact at artifactPath.
func (s *trackSink) logBytes(b []byte, artifactPath string) error {
	f, err := os.CreateTemp("", "mlenv-artifact-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, werr := f.Write(b)
	if err := errors.Join(werr, f.Close()); err != nil {
		return err
	}
	return s.LogArtifact(f.Name(), artifactPath)
}

// LogParams sends params in batches of at most 100.
func (s *trackSink) LogParams(params map[string]string) error {
	return s.logPairs(params, func(b *store.Batch, k, v string) { b.Params = append(b.Params, store.Param{Key: k, Value: v}) })
}

// SetTags sends tags in batches of at most 100.
func (s *trackSink) SetTags(tags map[string]string) error {
	return s.logPairs(tags, func(b *store.Batch, k, v string) { b.Tags = append(b.Tags, store.Tag{Key: k, Value: v}) })
}

func (s *trackSink) logPairs(m map[string]string, add func(b *store.Batch, k, v string)) error {
	for chunk := range slices.Chunk(slices.Sorted(maps.Keys(m)), store.MaxParamsTagsPerBatch) {
		b := store.Batch{RunID: s.run.Info.RunID}
		for _, k := range chunk {
			add(&b, k, m[k])
		}
		if err := s.client.LogBatch(s.ctx, b); err != nil {
			return err
		}
	}
	return nil
}

// LogMetrics sends one evaluation's metrics in one batch.
func (s *trackSink) LogMetrics(step int, at time.Time, metrics map[string]float64) error {
	b := store.Batch{RunID: s.run.Info.RunID}
	for _, k := range slices.Sorted(maps.Keys(metrics)) {
		b.Metrics = append(b.Metrics, store.Metric{Key: k, Value: store.Float(metrics[k]), Timestamp: at.UnixMilli(), Step: int64(step)})
	}
	return s.client.LogBatch(s.ctx, b)
}

// LogArtifact uploads the file or directory tree localPath under the
// run's artifacts at artifactPath, through the server's artifact proxy.
func (s *trackSink) LogArtifact(localPath, artifactPath string) error {
	root, err := artifactRoot(s.run)
	if err != nil {
		return err
	}
	return filepath.WalkDir(localPath, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(localPath, p)
		if err != nil {
			return err
		}
		dst := path.Join(root, artifactPath, filepath.ToSlash(rel))
		return s.client.UploadArtifact(context.WithoutCancel(s.ctx), dst, p)
	})
}

// Finish waits for the checkpoint uploads, then ends the run with
// status; it works after the run's context was cancelled, so that an
// interrupted run is recorded as KILLED with its last checkpoint.
func (s *trackSink) Finish(status train.Status) error {
	var err error
	if s.ckpts != nil {
		if err = s.ckpts.wait(); err != nil {
			err = fmt.Errorf("uploading a checkpoint to run %s: %w", s.run.Info.RunID, err)
		}
	}
	return errors.Join(err, s.client.EndRun(context.WithoutCancel(s.ctx), s.run.Info.RunID, string(status)))
}

// artifactRoot returns the artifact proxy path of run's artifacts.
func artifactRoot(run *store.Run) (string, error) {
	root, ok := strings.CutPrefix(run.Info.ArtifactURI, track.ProxyScheme)
	if !ok {
		return "", fmt.Errorf("run artifacts at %q: only the server's artifact proxy (%s) is supported", run.Info.ArtifactURI, track.ProxyScheme)
	}
	return root, nil
}

// A tracked run keeps its newest checkpoint among its artifacts: the
// files of a checkpoint step-N go under checkpoints/step-N.K (K counts
// the run's uploads, so that a checkpoint of the same step never
// overwrites files a reader may be fetching), then the one-line file
// checkpoints/latest is replaced to name step-N.K, and only then are the
// older uploads deleted. A reader that follows latest thus always finds a
// complete checkpoint.
const (
	checkpointsArtifact = "checkpoints"
	latestArtifact      = checkpointsArtifact + "/latest"
)

// logCheckpoint queues the local checkpoint directory dir for upload as
// the run's newest checkpoint (see checkpointUploads); it fails when an
// earlier upload failed.
func (s *trackSink) logCheckpoint(dir string) error {
	if s.ckpts == nil {
		s.ckpts = newCheckpointUploads(s.uploadCheckpoint)
	}
	s.uploads++
	name := fmt.Sprintf("%s.%d", filepath.Base(dir), s.uploads)
	if err := s.ckpts.add(dir, name); err != nil {
		return fmt.Errorf("uploading a checkpoint to run %s: %w", s.run.Info.RunID, err)
	}
	return nil
}

// uploadCheckpoint uploads the checkpoint files in dir as the run's
// checkpoint name, points latest at it and deletes older uploads (which
// is retried at the next checkpoint when it fails, rather than failing
// the run). It runs on the uploads' goroutine.
func (s *trackSink) uploadCheckpoint(dir, name string) error {
	if err := s.LogArtifact(dir, path.Join(checkpointsArtifact, name)); err != nil {
		return err
	}
	if err := s.logBytes([]byte(name+"\n"), latestArtifact); err != nil {
		return err
	}
	root, err := artifactRoot(s.run)
	if err != nil {
		return err
	}
	s.stale = slices.DeleteFunc(s.stale, func(old string) bool {
		return s.client.DeleteArtifact(context.WithoutCancel(s.ctx), path.Join(root, checkpointsArtifact, old)) == nil
	})
	s.stale = append(s.stale, name)
	return nil
}

// resumeFromRun copies the newest checkpoint of a run of the spec's job
// into the empty checkpoint directory root, so that the trainer resumes
// from it, and returns that run's ID: the run runID, which must have a
// checkpoint, or else the most recently started run named name in the
// sink's experiment that did not finish, was not continued by a run that
// finished, and has a checkpoint (other than the sink's own run). It
// returns "" when there is none such.
func (s *trackSink) resumeFromRun(ctx context.Context, name, runID, root string) (string, error) {
	if runID != "" {
		run, err := s.client.GetRun(ctx, runID)
		if err == nil {
			var found bool
			if found, err = fetchCheckpoint(ctx, s.client, run, root); err == nil && !found {
				err = fmt.Errorf("the run has no checkpoint (%s)", latestArtifact)
			}
		}
		if err != nil {
			return "", fmt.Errorf("resume from run %s: %w", runID, err)
		}
		return runID, nil
	}
	q := store.RunSearch{Search: store.Search{OrderBy: []string{"start_time DESC"}, MaxResults: 1000}, ExperimentIDs: []string{s.run.Info.ExperimentID}}
	continued := map[string]bool{} // runs that a finished run resumed from
	for {
		runs, next, err := s.client.SearchRuns(ctx, q)
		if err != nil {
			return "", fmt.Errorf("resume: searching runs of %q: %w", name, err)
		}
		for _, r := range runs {
			id := r.Info.RunID
			if r.Info.RunName != name || id == s.run.Info.RunID || continued[id] {
				continue
			}
			if r.Info.Status == string(train.Finished) {
				for _, t := range r.Tags { // runs start after the runs they continue
					if t.Key == resumedFromTag {
						continued[t.Value] = true
					}
				}
				continue
			}
			found, err := fetchCheckpoint(ctx, s.client, &r, root)
			if err != nil {
				return "", fmt.Errorf("resume from run %s: %w", id, err)
			}
			if found {
				return id, nil
			}
		}
		if next == "" {
			return "", nil
		}
		q.PageToken = next
	}
}

// fetchCheckpoint downloads the checkpoint that run's checkpoints/latest
// names into root/step-N, through a temporary directory renamed when
// complete. It reports false when the run has no checkpoints/latest.
func fetchCheckpoint(ctx context.Context, c *track.Client, run *store.Run, root string) (bool, error) {
	art, err := artifactRoot(run)
	if err != nil {
		return false, err
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return false, err
	}
	tmp, err := os.MkdirTemp(root, ".fetch-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(tmp)
	pointer := filepath.Join(tmp, "latest")
	err = c.DownloadArtifact(ctx, path.Join(art, latestArtifact), pointer)
	if store.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	b, err := os.ReadFile(pointer)
	if err != nil {
		return false, err
	}
	remote := strings.TrimSpace(string(b))
	local, _, _ := strings.Cut(remote, ".")
	if !train.IsCheckpointName(local) || strings.ContainsAny(remote, "/\\") {
		return false, fmt.Errorf("%s names %q, not a checkpoint step-N.K", latestArtifact, remote)
	}
	dir := filepath.Join(tmp, local)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return false, err
	}
	for _, f := range train.CheckpointFiles() {
		if err := c.DownloadArtifact(ctx, path.Join(art, checkpointsArtifact, remote, f), filepath.Join(dir, f)); err != nil {
			return false, fmt.Errorf("checkpoint %s: %w", remote, err)
		}
	}
	return true, os.Rename(dir, filepath.Join(root, local))
}

// resumedFromTag names the run whose checkpoint a run resumed from.
const resumedFromTag = "mlenv.resumed_from"
