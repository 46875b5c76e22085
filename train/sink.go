package train

import (
	"maps"
	"sync"
	"time"
)

// Status is how a run ended, in MLflow's terms.
type Status string

// Run statuses.
const (
	Finished Status = "FINISHED"
	Failed   Status = "FAILED"
	Killed   Status = "KILLED"
)

// MetricSink records a training run: the tracking client implements it,
// and tests use a Memory sink. The trainer calls LogParams and SetTags
// once at the start, LogMetrics after every evaluation, LogArtifact for
// the model artifact, and Finish exactly once at the end. Errors from a
// sink fail the run, except Finish's, which is reported with the run's own
// error. A sink is called from one goroutine at a time.
type MetricSink interface {
	LogParams(params map[string]string) error
	SetTags(tags map[string]string) error
	// LogMetrics records metric values observed at step and time at.
	LogMetrics(step int, at time.Time, metrics map[string]float64) error
	// LogArtifact records the file or directory localPath under the run's
	// artifacts at artifactPath.
	LogArtifact(localPath, artifactPath string) error
	Finish(status Status) error
}

// Discard is a MetricSink that records nothing.
var Discard MetricSink = discard{}

type discard struct{}

func (discard) LogParams(map[string]string) error                   { return nil }
func (discard) SetTags(map[string]string) error                     { return nil }
func (discard) LogMetrics(int, time.Time, map[string]float64) error { return nil }
func (discard) LogArtifact(string, string) error                    { return nil }
func (discard) Finish(Status) error                                 { return nil }

// Memory is a MetricSink that keeps everything in memory, for tests and
// for callers that read a run's history back. It is safe for concurrent
// use; read its fields only after the run returns.
type Memory struct {
	mu        sync.Mutex
	Params    map[string]string
	Tags      map[string]string
	Points    []Point
	Artifacts map[string]string // artifactPath -> localPath
	Status    Status
}

// Point is one LogMetrics call.
type Point struct {
	Step    int
	Time    time.Time
	Metrics map[string]float64
}

// LogParams merges params.
func (m *Memory) LogParams(params map[string]string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Params = merge(m.Params, params)
	return nil
}

// SetTags merges tags.
func (m *Memory) SetTags(tags map[string]string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Tags = merge(m.Tags, tags)
	return nil
}

// LogMetrics appends a Point.
func (m *Memory) LogMetrics(step int, at time.Time, metrics map[string]float64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Points = append(m.Points, Point{Step: step, Time: at, Metrics: maps.Clone(metrics)})
	return nil
}

// LogArtifact remembers the path.
func (m *Memory) LogArtifact(localPath, artifactPath string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Artifacts = merge(m.Artifacts, map[string]string{artifactPath: localPath})
	return nil
}

// Finish records the status.
func (m *Memory) Finish(status Status) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Status = status
	return nil
}

func merge(dst, src map[string]string) map[string]string {
	if dst == nil {
		dst = map[string]string{}
	}
	maps.Copy(dst, src)
	return dst
}

var (
	_ MetricSink = discard{}
	_ MetricSink = (*Memory)(nil)
)
