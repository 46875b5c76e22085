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
	f, err := os.CreateTemp("", "mlenv-job-*.yaml")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, werr := f.Write(b)
	if err := errors.Join(werr, f.Close()); err != nil {
		return err
	}
	return s.LogArtifact(f.Name(), "job.yaml")
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
	root, ok := strings.CutPrefix(s.run.Info.ArtifactURI, track.ProxyScheme)
	if !ok {
		return fmt.Errorf("run artifacts at %q: only the server's artifact proxy (%s) is supported", s.run.Info.ArtifactURI, track.ProxyScheme)
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

// Finish ends the run with status; it works after the run's context was
// cancelled, so that an interrupted run is recorded as KILLED.
func (s *trackSink) Finish(status train.Status) error {
	return s.client.EndRun(context.WithoutCancel(s.ctx), s.run.Info.RunID, string(status))
}
