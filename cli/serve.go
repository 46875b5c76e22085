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
	"slices"
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
	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/track"
	"github.com/mlenv/mlenv/ui"
)

func init() { register(newServeCmd) }

type serveFlags struct {
	http, grpc  string
	advertise   string
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
GET /metrics serves Prometheus metrics.

A registered model's version records where it is served: the model-version
tag mlenv.endpoint holds the HTTP endpoint's base URL (--advertise, or one
made from --http, an unspecified host becoming 127.0.0.1 when the tracking
server is on loopback and this machine's host name otherwise), so that the
tracking server's web UI shows its health, request rate and latency. The
tag moves with a followed alias and is removed on exit. SIGTERM or Ctrl-C stops taking
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
	fl.StringVar(&f.advertise, "advertise", "", "base URL the tracking server reaches the HTTP endpoint at, recorded on served registry versions (default: from --http)")
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
	case f.advertise != "" && !isHTTPURL(f.advertise):
		return usagef("--advertise %q: want an http(s) URL such as http://host:8000", f.advertise)
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
	httpLn, grpcLn, err := listen(f)
	if err != nil {
		return err
	}
	// The server closes them; these close them when a model fails to load.
	defer httpLn.Close()
	defer grpcLn.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	repo := serve.NewRepository(serve.NewMetrics(reg), log)
	defer repo.Close()

	var fetch *artifactFetcher
	var tags *endpointTags
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
		if fetch, err = newArtifactFetcher(uri); err != nil {
			return err
		}
		defer fetch.close()
		tags = newEndpointTags(fetch.client, endpointURL(f.advertise, httpLn.Addr(), uri), log)
		defer tags.clear() // after following stops
	}
	followCtx, stopFollowing := context.WithCancel(ctx)
	var following sync.WaitGroup
	defer func() { stopFollowing(); following.Wait() }()
	seen := map[string]string{}
	for i, r := range refs {
		name, err := loadRef(followCtx, &following, repo, fetch, tags, r, f, log)
		if err != nil {
			return err
		}
		if prev, dup := seen[name]; dup {
			return usagef("models %q and %q are both named %q", prev, args[i], name)
		}
		seen[name] = args[i]
	}
	fmt.Fprintf(stdout, "models: %s\nHTTP:   http://%s/v2\ngRPC:   %s\n", strings.Join(repo.Models(), ", "), httpLn.Addr(), grpcLn.Addr())
	srv := serve.NewServer(repo, serve.Config{Gatherer: reg, Logger: log})
	return srv.Serve(ctx, httpLn, grpcLn)
}

// loadRef loads one model argument into repo and returns the model name
// it is served under. An alias is followed in the background, in a
// goroutine counted by following, until ctx ends; loadRef returns once its
// first version is loaded.
func loadRef(ctx context.Context, following *sync.WaitGroup, repo *serve.Repository, fetch *artifactFetcher, tags *endpointTags, r modelRef, f serveFlags, log *slog.Logger) (string, error) {
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
	src := &registrySource{fetch: fetch, tags: tags, ref: r, copies: f.batch.Instances, prepared: f.prepared}
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

// listen opens the HTTP and gRPC listeners, before the models load, so
// that the HTTP endpoint's address is known when their versions are
// tagged with it.
func listen(f serveFlags) (httpLn, grpcLn net.Listener, err error) {
	httpLn, err = net.Listen("tcp", f.http)
	if err != nil {
		return nil, nil, usagef("--http %s: %v", f.http, err)
	}
	grpcLn, err = net.Listen("tcp", f.grpc)
	if err != nil {
		httpLn.Close()
		return nil, nil, usagef("--grpc %s: %v", f.grpc, err)
	}
	return httpLn, grpcLn, nil
}

// registrySource serves a registered model version or follows an alias
// (it implements serve.Source).
type registrySource struct {
	fetch    *artifactFetcher
	tags     *endpointTags // records the served version
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

// Load downloads the version's artifact, loads it and tags the version
// with the endpoint (moving the tag off the version served before).
func (s *registrySource) Load(ctx context.Context, version string) (serve.Model, error) {
	dir, err := s.fetch.fetch(ctx, s.ref.name, version)
	if err != nil {
		return nil, err
	}
	m, err := loadArtifact(dir, s.ref.name, version, s.copies, s.prepared)
	if err != nil {
		return nil, fmt.Errorf("model %s/%s: %w", s.ref.name, version, err)
	}
	s.tags.serving(ctx, s.ref.name, version)
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

// endpointTags records on registered model versions where this process
// serves them, in the model-version tag ui.EndpointTag, so that the
// tracking server's web UI can show the endpoint's health and traffic.
// Failing to record is logged, never fatal: serving matters more. It is
// safe for concurrent use.
type endpointTags struct {
	client *track.Client
	url    string
	log    *slog.Logger
	mu     sync.Mutex
	served map[string]string // model name → version tagged
}

func newEndpointTags(c *track.Client, url string, log *slog.Logger) *endpointTags {
	return &endpointTags{client: c, url: url, log: log, served: map[string]string{}}
}

// serving tags version of model name with the endpoint and removes the
// tag from the version of name served before.
func (t *endpointTags) serving(ctx context.Context, name, version string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	body := map[string]string{"name": name, "version": version, "key": ui.EndpointTag, "value": t.url}
	if err := t.client.Do(ctx, "POST", "model-versions/set-tag", body, nil); err != nil {
		t.log.Warn("recording the endpoint on the model version", "model", name, "version", version, "err", err)
		return
	}
	if prev := t.served[name]; prev != "" && prev != version {
		t.remove(ctx, name, prev)
	}
	t.served[name] = version
}

// remove deletes the tag of version of model name if it still names this
// endpoint (another process may serve that version now). The caller
// holds t.mu.
func (t *endpointTags) remove(ctx context.Context, name, version string) {
	v, err := registry.NewClient(t.client).GetVersion(ctx, name, version)
	if err == nil && slices.Contains(v.Tags, store.Tag{Key: ui.EndpointTag, Value: t.url}) {
		body := map[string]string{"name": name, "version": version, "key": ui.EndpointTag}
		err = t.client.Do(ctx, "DELETE", "model-versions/delete-tag", body, nil)
	}
	if err != nil {
		t.log.Warn("removing the endpoint from the model version", "model", name, "version", version, "err", err)
	}
}

// clear removes the tags this process recorded, within a few seconds; it
// is called on exit, once no more versions are loaded.
func (t *endpointTags) clear() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	t.mu.Lock()
	defer t.mu.Unlock()
	for name, version := range t.served {
		t.remove(ctx, name, version)
	}
	clear(t.served)
}

// endpointURL returns the base URL recorded for the HTTP endpoint
// listening at addr: advertise when set, else http://HOST:PORT where an
// unspecified host (":8000", "0.0.0.0:8000") becomes 127.0.0.1 when the
// tracking server at trackingURI is on loopback (so on this machine) and
// this machine's host name otherwise.
func endpointURL(advertise string, addr net.Addr, trackingURI string) string {
	if advertise != "" {
		return strings.TrimSuffix(advertise, "/")
	}
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		panic(err) // a TCP listener's address always has a port
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if u, err := url.Parse(trackingURI); err == nil && !isLoopback(u.Hostname()) {
			host = cmp.Or(hostname(), host)
		}
	}
	return "http://" + net.JoinHostPort(host, port)
}

// isLoopback reports whether host is localhost or a loopback address.
func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// hostname returns this machine's host name, or "" if it has none.
func hostname() string {
	h, _ := os.Hostname()
	return h
}

// isHTTPURL reports whether s is an absolute http or https URL.
func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
