package track_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlenv/mlenv/artifact"
	"github.com/mlenv/mlenv/server"
	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/store/storetest"
	"github.com/mlenv/mlenv/track"
)

// flaky serves h but answers the first n requests with 503, counting all.
type flaky struct {
	h     http.Handler
	fail  atomic.Int64
	calls atomic.Int64
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	if f.fail.Add(-1) >= 0 {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
		return
	}
	f.h.ServeHTTP(w, r)
}

func newServer(t *testing.T) (*flaky, *track.Client) {
	files, err := artifact.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := &flaky{h: server.NewHandler(storetest.SQLite(t), files, slog.New(slog.DiscardHandler))}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := track.NewClient(srv.URL, track.ClientOptions{Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

func TestClientRetriesAndErrors(t *testing.T) {
	f, c := newServer(t)
	ctx := context.Background()
	f.fail.Store(3)
	exp, err := c.CreateExperiment(ctx, "retry")
	if err != nil {
		t.Fatalf("create after 3 transient failures: %v", err)
	}
	if n := f.calls.Load(); n != 4 {
		t.Fatalf("server saw %d calls, want 4", n)
	}
	_, err = c.CreateExperiment(ctx, "retry")
	if store.CodeOf(err) != store.ResourceAlreadyExists {
		t.Fatalf("duplicate create: %v, want RESOURCE_ALREADY_EXISTS", err)
	}
	if n := f.calls.Load(); n != 5 {
		t.Fatalf("a 400 must not be retried: %d calls", n)
	}
	e, err := c.GetExperimentByName(ctx, "retry")
	if err != nil || e.ExperimentID != exp {
		t.Fatalf("get by name = %+v, %v", e, err)
	}
	f.fail.Store(100)
	if _, err := c.GetRun(ctx, "x"); store.CodeOf(err) != store.TemporarilyUnavailable {
		t.Fatalf("after retries run out: %v", err)
	}
	if _, err := track.NewClient("localhost:5000", track.ClientOptions{}); err == nil {
		t.Fatal("a URI without scheme must be rejected")
	}
}

func TestRunLoggerBatches(t *testing.T) {
	f, c := newServer(t)
	ctx := context.Background()
	run, err := c.CreateRun(ctx, store.RunCreate{ExperimentID: "0", RunName: "train"})
	if err != nil {
		t.Fatal(err)
	}
	before := f.calls.Load()
	l := c.NewRunLogger(run.Info.RunID, track.RunLoggerOptions{MaxBatch: 100, FlushEvery: time.Hour})
	for i := range 250 {
		if err := l.LogMetric(ctx, "loss", 1/float64(i+1), int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := f.calls.Load() - before; n != 3 {
		t.Fatalf("250 points took %d requests, want 3", n)
	}
	hist, err := c.GetMetricHistory(ctx, run.Info.RunID, "loss")
	if err != nil || len(hist) != 250 || hist[249].Step != 249 {
		t.Fatalf("history: %d points, %v", len(hist), err)
	}
	if err := c.EndRun(ctx, run.Info.RunID, "FINISHED"); err != nil {
		t.Fatal(err)
	}
	runs, _, err := c.SearchRuns(ctx, store.RunSearch{ExperimentIDs: []string{"0"}, Search: store.Search{Filter: "attributes.status = 'FINISHED'"}})
	if err != nil || len(runs) != 1 || runs[0].Info.RunName != "train" || runs[0].Metrics[0].Step != 249 {
		t.Fatalf("search = %+v, %v", runs, err)
	}
}

func TestClientArtifactRoundTrip(t *testing.T) {
	_, c := newServer(t)
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "weights.bin")
	want := []byte("weights \x00\x01 with a space in the name")
	if err := os.WriteFile(src, want, 0o644); err != nil {
		t.Fatal(err)
	}
	p := "1/run a/artifacts/model/weights.bin"
	if err := c.UploadArtifact(ctx, p, src); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "copy.bin")
	if err := c.DownloadArtifact(ctx, "/"+p, dst); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("downloaded %q, %v; want %q", got, err, want)
	}

	err := c.DownloadArtifact(ctx, "1/run a/artifacts/missing", filepath.Join(dir, "missing"))
	var se *store.Error
	if !errors.As(err, &se) || se.Code != store.ResourceDoesNotExist {
		t.Errorf("download of a missing artifact: %v, want a %s error", err, store.ResourceDoesNotExist)
	}
	if err := c.UploadArtifact(ctx, "../escape", src); err == nil {
		t.Error("upload outside the artifact root succeeded")
	}

	// Deleting a directory removes what is under it.
	if err := c.DeleteArtifact(ctx, "1/run a/artifacts/model"); err != nil {
		t.Fatal(err)
	}
	err = c.DownloadArtifact(ctx, p, dst)
	if !errors.As(err, &se) || se.Code != store.ResourceDoesNotExist {
		t.Errorf("download after deleting its directory: %v, want a %s error", err, store.ResourceDoesNotExist)
	}
	if err := c.DeleteArtifact(ctx, "../escape"); err == nil {
		t.Error("delete outside the artifact root succeeded")
	}
}
