// Package server composes mlenv's platform HTTP server: the MLflow
// tracking API, the model registry API and the artifact proxy, over a SQL
// store and an artifact store.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mlenv/mlenv/artifact"
	"github.com/mlenv/mlenv/registry"
	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/track"
	"github.com/mlenv/mlenv/ui"
)

// Defaults for Config fields left empty: an SQLite file and an artifact
// directory under ./mlruns, so the server needs no set-up.
const (
	DefaultHost      = "127.0.0.1"
	DefaultPort      = 5000
	DefaultDB        = "sqlite:///mlruns/mlenv.db"
	DefaultArtifacts = "mlruns/artifacts"
)

// Config configures a Server. The zero value serves on 127.0.0.1 on a
// free port, with the defaults above; the CLI's port is DefaultPort.
type Config struct {
	Host string
	Port int // 0 picks a free port
	// DB is the store DSN: sqlite:///path or postgres://...
	DB string
	// Artifacts is a directory, file:///dir or s3://bucket/prefix.
	Artifacts string
	// Logger receives request errors and lifecycle events; nil means
	// slog.Default().
	Logger *slog.Logger
	// DrainTimeout bounds how long Run waits for in-flight requests on
	// shutdown; 0 means 30 s.
	DrainTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.Host == "" {
		c.Host = DefaultHost
	}
	if c.DB == "" {
		c.DB = DefaultDB
	}
	if c.Artifacts == "" {
		c.Artifacts = DefaultArtifacts
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 30 * time.Second
	}
}

// Server is the tracking and registry server.
type Server struct {
	cfg     Config
	store   *store.SQLStore
	handler http.Handler
}

// New opens the stores named by cfg (applying migrations) and builds the
// HTTP handler. Close releases the stores.
func New(ctx context.Context, cfg Config) (*Server, error) {
	cfg.setDefaults()
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("port %d: want 0 to 65535", cfg.Port)
	}
	st, err := store.Open(ctx, cfg.DB, store.Options{Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", redact(cfg.DB), err)
	}
	files, err := artifact.Open(ctx, cfg.Artifacts)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("open artifact store: %w", err)
	}
	return &Server{cfg: cfg, store: st, handler: NewHandler(st, files, cfg.Logger)}, nil
}

// NewHandler returns the HTTP handler serving the MLflow tracking and
// registry APIs over st and the artifact proxy over files.
func NewHandler(st store.Store, files artifact.Store, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	m := track.NewMux(mux, log)
	track.NewAPI(st).Register(m)
	track.NewArtifactAPI(st, files).Register(m)
	registry.NewAPI(st, st).Register(m)
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "OK") })
	// The web UI takes every path the API patterns above do not match.
	mux.Handle("/", ui.Handler(st, log))
	return mux
}

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Addr returns host:port the server listens on.
func (s *Server) Addr() string { return net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port)) }

// Run serves on the configured address until ctx ends, then stops taking
// connections, waits for in-flight requests (up to DrainTimeout) and
// closes the stores, so every acknowledged write is committed. ready, if
// not nil, receives the listening address once the server accepts
// connections.
func (s *Server) Run(ctx context.Context, ready func(addr string)) error {
	ln, err := net.Listen("tcp", s.Addr())
	if err != nil {
		s.store.Close()
		return fmt.Errorf("listen on %s: %w", s.Addr(), err)
	}
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 5 * time.Minute,
		ErrorLog: slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.cfg.Logger.Info("mlenv server listening", "addr", ln.Addr().String(), "db", redact(s.cfg.DB),
		"dialect", s.store.Dialect(), "artifacts", s.cfg.Artifacts)
	if ready != nil {
		ready(ln.Addr().String())
	}
	select {
	case err = <-errc:
	case <-ctx.Done():
		s.cfg.Logger.Info("shutting down: draining in-flight requests", "timeout", s.cfg.DrainTimeout)
		sctx, cancel := context.WithTimeout(context.Background(), s.cfg.DrainTimeout)
		err = srv.Shutdown(sctx)
		cancel()
	}
	if cerr := s.store.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Close releases the stores of a server that was not Run.
func (s *Server) Close() error { return s.store.Close() }

// redact hides a password in a DSN for logs.
func redact(dsn string) string {
	if i, j := strings.Index(dsn, "://"), strings.Index(dsn, "@"); i >= 0 && j > i {
		if k := strings.Index(dsn[i+3:j], ":"); k >= 0 {
			return dsn[:i+3+k] + ":***" + dsn[j:]
		}
	}
	return dsn
}
