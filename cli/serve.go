package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/mlenv/mlenv/modelfile"
	"github.com/mlenv/mlenv/registry"
	"github.com/mlenv/mlenv/serve"
	"github.com/mlenv/mlenv/track"
)

func init() { register(newServeCmd) }

type serveFlags struct {
	http, grpc  string
	trackingURI string
	trackingDir string
	poll        time.Duration
	batch       serve.BatchConfig
	prepared    bool
}

func newServeCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve NAME@ALIAS | NAME/VERSION | DIR | FILE.onnx ...",
		Short: "Serve model artifacts and ONNX models over the Open Inference Protocol (HTTP and gRPC)",
		Long: `Serve one or more models over the Open Inference Protocol (KServe v2) on
HTTP/JSON (--http) and gRPC (--grpc), with dynamic batching per model.

A model is a model artifact directory (what mlenv train writes), an ONNX
file (FILE.onnx, or a directory holding model.onnx), a registered version
NAME/VERSION, or an alias NAME@ALIAS, which is followed:
every --poll the alias is resolved again and, when it moved, the new
version is loaded and swapped in without dropping requests. Registered
models are read from the tracking server at --uri, or from the
embedded tracking directory --tracking-dir (what mlenv train records into
by default, ./.mlenv). Artifacts come through the server's artifact proxy.

Requests carry the raw feature columns of the model's signature by name
(numeric FP32 [n], categorical and multi_hot BYTES [n]); with --prepared
they carry what the fitted transforms would produce instead: "dense" FP32
[n,d], "categorical" INT64 [n,c] ids and, per multi_hot feature, INT64
[n,L] ids padded with -1. The answer is "probability" [n,1],
"probabilities" [n,classes] or "value" [n,k].
An ONNX model is served under its file name (or its directory's name), with
the graph's FP32 inputs and outputs, run by mlenv's engine; a graph with a
fixed batch dimension is served without batching.
GET /metrics serves Prometheus metrics. SIGTERM or Ctrl-C stops taking
requests, answers those in flight and exits.`,
		Example: `  mlenv serve mlenv-models/ctr-dlrm
  mlenv serve classifier.onnx
  mlenv serve ctr@production --uri http://127.0.0.1:5000 --max-batch-size 64
  curl -s localhost:8000/v2/models/ctr-dlrm`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runServe(ctx, cmd.OutOrStdout(), args, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.http, "http", ":8000", "HTTP listen address")
	fl.StringVar(&f.grpc, "grpc", ":8001", "gRPC listen address")
	trackingURIFlag(cmd, &f.trackingURI)
	fl.StringVar(&f.trackingDir, "tracking-dir", "", "read the registry of this embedded tracking directory instead of --uri")
	fl.DurationVar(&f.poll, "poll", 5*time.Second, "how often followed aliases are resolved again")
	fl.IntVar(&f.batch.MaxBatchSize, "max-batch-size", 64, "most rows merged into one batch (1: no batching)")
	fl.DurationVar(&f.batch.MaxQueueDelay, "max-queue-delay", 0, "how long a batch waits for more requests (0: merge only requests already waiting, as Triton does by default)")
	fl.IntVar(&f.batch.QueueSize, "queue-size", serve.DefaultQueueSize, "requests that may wait per model; more are rejected with 429")
	fl.IntVar(&f.batch.Instances, "instances", 1, "batches of one model that may run at once (an artifact is loaded once per instance)")
	fl.BoolVar(&f.prepared, "prepared", false, "artifacts take encoded tensors (dense, categorical ids, multi_hot id lists) instead of raw columns")
	return cmd
}

func (f serveFlags) check() error {
	switch {
	case f.batch.MaxBatchSize < 1:
		return usagef("--max-batch-size %d: want at least 1", f.batch.MaxBatchSize)
	case f.batch.MaxQueueDelay < 0:
		return usagef("--max-queue-delay %s: want 0 or more", f.batch.MaxQueueDelay)
	case f.batch.QueueSize < 1:
		return usagef("--queue-size %d: want at least 1", f.batch.QueueSize)
	case f.batch.Instances < 1:
		return usagef("--instances %d: want at least 1", f.batch.Instances)
	case f.poll <= 0:
		return usagef("--poll %s: want a positive duration", f.poll)
	}
	return nil
}

// modelRef is one model argument of mlenv serve: a model artifact
// directory, an ONNX file (served as name), or a registered model with a
// version or an alias.
type modelRef struct {
	dir                  string
	onnx                 string
	name, version, alias string
}

// onnxFile is the file a directory holds an ONNX model in, the name
// Triton's model repositories use.
const onnxFile = "model.onnx"

// parseModelRef reads a model argument; an existing .onnx file or
// directory wins over the registry forms. A directory that holds
// model.onnx and no model.json is an ONNX model named after the directory.
func parseModelRef(s string) (modelRef, error) {
	st, err := os.Stat(s)
	switch {
	case err != nil && strings.HasSuffix(s, ".onnx"):
		return modelRef{}, usagef("model %q: %v", s, errors.Unwrap(err))
	case err == nil && !st.IsDir() && strings.HasSuffix(s, ".onnx"):
		return modelRef{onnx: s}, nil
	case err == nil && st.IsDir():
		if fileExists(filepath.Join(s, onnxFile)) && !fileExists(filepath.Join(s, modelfile.MetaFile)) {
			return modelRef{onnx: filepath.Join(s, onnxFile), name: filepath.Base(filepath.Clean(s))}, nil
		}
		return modelRef{dir: s}, nil
	}
	if name, alias, ok := strings.Cut(s, "@"); ok && name != "" && alias != "" {
		return modelRef{name: name, alias: alias}, nil
	}
	if i := strings.LastIndex(s, "/"); i > 0 && isDigits(s[i+1:]) {
		return modelRef{name: s[:i], version: s[i+1:]}, nil
	}
	return modelRef{}, usagef("model %q: not a model directory, an .onnx file, NAME@ALIAS or NAME/VERSION", s)
}

// fileExists reports whether path is an existing regular file.
func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// runServe loads the models named by args and serves them until ctx ends.
func runServe(ctx context.Context, stdout io.Writer, args []string, f serveFlags) error {
	log := slog.Default() // set up by the root command's --log-level and --log-format
	refs := make([]modelRef, len(args))
	needRegistry := false
	for i, a := range args {
		r, err := parseModelRef(a)
		if err != nil {
			return err
		}
		refs[i], needRegistry = r, needRegistry || (r.dir == "" && r.onnx == "")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	repo := serve.NewRepository(serve.NewMetrics(reg), log)
	defer repo.Close()

	var fetch *artifactFetcher
	if needRegistry {
		uri := f.trackingURI
		if f.trackingDir != "" {
			u, stopTracking, err := serveEmbedded(ctx, f.trackingDir)
			if err != nil {
				return err
			}
			defer stopTracking()
			uri = u
		}
		var err error
		if fetch, err = newArtifactFetcher(uri); err != nil {
			return err
		}
		defer fetch.close()
	}
	followCtx, stopFollowing := context.WithCancel(ctx)
	var following sync.WaitGroup
	defer func() { stopFollowing(); following.Wait() }()
	seen := map[string]string{}
	for i, r := range refs {
		name, err := loadRef(followCtx, &following, repo, fetch, r, f, log)
		if err != nil {
			return err
		}
		if prev, dup := seen[name]; dup {
			return usagef("models %q and %q are both named %q", prev, args[i], name)
		}
		seen[name] = args[i]
	}
	return listenAndServe(ctx, stdout, repo, reg, f, log)
}

// loadRef loads one model argument into repo and returns the model name
// it is served under. An alias is followed in the background, in a
// goroutine counted by following, until ctx ends; loadRef returns once its
// first version is loaded.
func loadRef(ctx context.Context, following *sync.WaitGroup, repo *serve.Repository, fetch *artifactFetcher, r modelRef, f serveFlags, log *slog.Logger) (string, error) {
	if r.dir != "" {
		m, err := loadArtifact(r.dir, "", "1", f.batch.Instances, f.prepared)
		if err != nil {
			return "", err
		}
		return m.Metadata().Name, repo.Load(m, f.batch)
	}
	if r.onnx != "" {
		return loadONNX(repo, r, f.batch, log)
	}
	src := &registrySource{fetch: fetch, ref: r, copies: f.batch.Instances, prepared: f.prepared}
	if r.alias == "" {
		m, err := src.Load(ctx, r.version)
		if err != nil {
			return "", err
		}
		return r.name, repo.Load(m, f.batch)
	}
	done := make(chan error, 1)
	following.Go(func() { done <- repo.Follow(ctx, src, f.batch, f.poll) })
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !repo.Ready(r.name, "") {
		select {
		case err := <-done:
			if err == nil { // ctx ended before the first load
				err = fmt.Errorf("model %s@%s: %w", r.name, r.alias, ctx.Err())
			}
			return "", err
		case <-tick.C:
		}
	}
	log.Info("following alias", "model", r.name, "alias", r.alias, "every", f.poll)
	return r.name, nil
}

// loadONNX loads an ONNX model into repo as version 1 and returns its name.
// A graph with a fixed batch dimension is served without batching, since
// its requests cannot be merged.
func loadONNX(repo *serve.Repository, r modelRef, cfg serve.BatchConfig, log *slog.Logger) (string, error) {
	m, err := serve.LoadONNX(r.onnx, r.name, "1")
	if err != nil {
		return "", err
	}
	meta := m.Metadata()
	if cfg.MaxBatchSize > 1 && !meta.Batchable() {
		log.Warn("ONNX graph has a fixed batch dimension; serving it without batching", "model", meta.Name, "file", r.onnx)
		cfg.MaxBatchSize = 1
	}
	return meta.Name, repo.Load(m, cfg)
}

// listenAndServe opens both listeners, prints their URLs and serves until
// ctx ends.
func listenAndServe(ctx context.Context, stdout io.Writer, repo *serve.Repository, reg *prometheus.Registry, f serveFlags, log *slog.Logger) error {
	httpLn, err := net.Listen("tcp", f.http)
	if err != nil {
		return usagef("--http %s: %v", f.http, err)
	}
	grpcLn, err := net.Listen("tcp", f.grpc)
	if err != nil {
		httpLn.Close()
		return usagef("--grpc %s: %v", f.grpc, err)
	}
	fmt.Fprintf(stdout, "models: %s\nHTTP:   http://%s/v2\ngRPC:   %s\n", strings.Join(repo.Models(), ", "), httpLn.Addr(), grpcLn.Addr())
	srv := serve.NewServer(repo, serve.Config{Gatherer: reg, Logger: log})
	return srv.Serve(ctx, httpLn, grpcLn)
}

// registrySource serves a registered model version or follows an alias
// (it implements serve.Source).
type registrySource struct {
	fetch    *artifactFetcher
	ref      modelRef
	copies   int  // model copies to load, one per batcher instance
	prepared bool // serve the artifacts' Prepared view
}

// Resolve returns the version the alias points to, or the fixed version.
func (s *registrySource) Resolve(ctx context.Context) (string, error) {
	if s.ref.alias == "" {
		return s.ref.version, nil
	}
	v, err := s.fetch.registry.GetVersionByAlias(ctx, s.ref.name, s.ref.alias)
	if err != nil {
		return "", fmt.Errorf("model %s@%s: %w", s.ref.name, s.ref.alias, err)
	}
	return v.Version, nil
}

// Load downloads the version's artifact and loads it.
func (s *registrySource) Load(ctx context.Context, version string) (serve.Model, error) {
	dir, err := s.fetch.fetch(ctx, s.ref.name, version)
	if err != nil {
		return nil, err
	}
	m, err := loadArtifact(dir, s.ref.name, version, s.copies, s.prepared)
	if err != nil {
		return nil, fmt.Errorf("model %s/%s: %w", s.ref.name, version, err)
	}
	return m, nil
}

// loadArtifact loads the artifact directory dir (see serve.LoadArtifact),
// or its Prepared view when prepared is set.
func loadArtifact(dir, name, version string, copies int, prepared bool) (serve.Model, error) {
	a, err := serve.LoadArtifact(dir, name, version, copies)
	if err != nil {
		return nil, err
	}
	if !prepared {
		return a, nil
	}
	p, err := a.Prepared()
	if err != nil {
		return nil, err
	}
	return p, nil
}

// artifactFetcher finds registered model versions' artifacts on a
// tracking server and copies them into a private temporary directory.
type artifactFetcher struct {
	client   *track.Client
	registry *registry.Client
	cache    string
}

func newArtifactFetcher(uri string) (*artifactFetcher, error) {
	c, err := newTrackingClient(uri)
	if err != nil {
		return nil, err
	}
	cache, err := os.MkdirTemp("", "mlenv-serve-")
	if err != nil {
		return nil, err
	}
	return &artifactFetcher{client: c, registry: registry.NewClient(c), cache: cache}, nil
}

func (a *artifactFetcher) close() { os.RemoveAll(a.cache) }

// fetch returns a local directory holding the artifact of model name at
// version: the artifact's own directory when the server stores it in a
// local path, otherwise a copy downloaded through the artifact proxy.
func (a *artifactFetcher) fetch(ctx context.Context, name, version string) (string, error) {
	var resp struct {
		URI string `json:"artifact_uri"`
	}
	q := url.Values{"name": {name}, "version": {version}}
	if err := a.client.Do(ctx, "GET", "model-versions/get-download-uri", q, &resp); err != nil {
		return "", fmt.Errorf("model %s/%s: %w", name, version, err)
	}
	rest, proxied := strings.CutPrefix(resp.URI, track.ProxyScheme)
	if !proxied {
		if dir, ok := strings.CutPrefix(resp.URI, "file://"); ok || filepath.IsAbs(resp.URI) {
			return cmp.Or(dir, resp.URI), nil
		}
		return "", fmt.Errorf("model %s/%s: artifact at %q: only the server's artifact proxy (%s) and local paths are supported", name, version, resp.URI, track.ProxyScheme)
	}
	dir := filepath.Join(a.cache, url.PathEscape(name), version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	for _, file := range []string{modelfile.MetaFile, modelfile.WeightsFile} {
		p := strings.Trim(rest, "/") + "/" + file
		if err := a.client.DownloadArtifact(ctx, p, filepath.Join(dir, file)); err != nil {
			return "", fmt.Errorf("model %s/%s: %w", name, version, err)
		}
	}
	return dir, nil
}
