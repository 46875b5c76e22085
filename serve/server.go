package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/mlenv/mlenv/serve/inferencepb"
)

// Config configures a Server. The zero value is usable: every field has a
// documented default.
type Config struct {
	// HTTPAddr and GRPCAddr are the listen addresses used by Run; defaults
	// ":8000" and ":8001", the ports KServe and Triton clients expect.
	HTTPAddr, GRPCAddr string
	// MaxRequestBytes bounds an HTTP request body and a gRPC message;
	// default 64 MiB.
	MaxRequestBytes int64
	// ShutdownTimeout bounds how long a graceful shutdown waits for
	// in-flight requests before closing connections; default 30 s.
	ShutdownTimeout time.Duration
	// Gatherer, when set, is served at GET /metrics (usually the registry
	// that NewMetrics registered the repository's metrics with).
	Gatherer prometheus.Gatherer
	// Logger receives server events; nil discards them.
	Logger *slog.Logger
}

// Server serves a Repository over the Open Inference Protocol, on HTTP/JSON
// and on gRPC. Create it with NewServer.
type Server struct {
	repo     *Repository
	cfg      Config
	log      *slog.Logger
	stopping atomic.Bool
}

// NewServer returns a server for repo, filling cfg's defaults.
func NewServer(repo *Repository, cfg Config) *Server {
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = ":8000"
	}
	if cfg.GRPCAddr == "" {
		cfg.GRPCAddr = ":8001"
	}
	if cfg.MaxRequestBytes == 0 {
		cfg.MaxRequestBytes = 64 << 20
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = discardLogger()
	}
	return &Server{repo: repo, cfg: cfg, log: log}
}

// serverName is what the server metadata endpoints report.
const serverName = "mlenv"

// extensions are the protocol extensions the server supports.
var extensions = []string{"binary_tensor_data"}

// live reports server liveness: true while the process answers.
func (s *Server) live() bool { return true }

// ready reports whether the server takes inference requests: it is not
// shutting down and has at least one model loaded.
func (s *Server) ready() bool { return !s.stopping.Load() && len(s.repo.Models()) > 0 }

// Run listens on cfg.HTTPAddr and cfg.GRPCAddr and serves until ctx ends,
// then shuts down gracefully (see Serve).
func (s *Server) Run(ctx context.Context) error {
	httpLn, err := net.Listen("tcp", s.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("serve: HTTP listener: %w", err)
	}
	grpcLn, err := net.Listen("tcp", s.cfg.GRPCAddr)
	if err != nil {
		httpLn.Close()
		return fmt.Errorf("serve: gRPC listener: %w", err)
	}
	return s.Serve(ctx, httpLn, grpcLn)
}

// Serve serves HTTP on httpLn and gRPC on grpcLn (either may be nil to
// serve one protocol only) until ctx ends or a listener fails. Then it
// shuts down gracefully: it reports not ready, stops accepting connections,
// waits up to cfg.ShutdownTimeout for in-flight requests (including those
// queued for batching) to be answered, and unloads the repository's
// models. It returns nil after a shutdown caused by ctx.
func (s *Server) Serve(ctx context.Context, httpLn, grpcLn net.Listener) error {
	httpSrv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	gs := grpc.NewServer(grpc.MaxRecvMsgSize(int(s.cfg.MaxRequestBytes)), grpc.MaxSendMsgSize(int(s.cfg.MaxRequestBytes)))
	inferencepb.RegisterGRPCInferenceServiceServer(gs, &grpcService{s: s})
	// The standard health service (for Kubernetes gRPC probes) and server
	// reflection (for grpcurl and other generic clients).
	healthSrv := health.NewServer()
	healthpb.RegisterHealthServer(gs, healthSrv)
	reflection.Register(gs)

	errc := make(chan error, 2)
	if httpLn != nil {
		s.log.Info("serving HTTP", "addr", httpLn.Addr().String())
		go func() { errc <- httpSrv.Serve(httpLn) }()
	}
	if grpcLn != nil {
		s.log.Info("serving gRPC", "addr", grpcLn.Addr().String())
		go func() { errc <- gs.Serve(grpcLn) }()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("serve: %w", err)
	}
	healthSrv.Shutdown() // health checks report NOT_SERVING from now on
	s.shutdown(httpSrv, gs)
	return err
}

// shutdown stops both servers gracefully, then unloads the models.
func (s *Server) shutdown(hs *http.Server, gs *grpc.Server) {
	s.stopping.Store(true)
	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()

	grpcDone := make(chan struct{})
	go func() { gs.GracefulStop(); close(grpcDone) }()
	if err := hs.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Warn("HTTP shutdown incomplete; closing connections", "err", err)
		hs.Close()
	}
	select {
	case <-grpcDone:
	case <-ctx.Done():
		s.log.Warn("gRPC shutdown incomplete; closing connections")
		gs.Stop()
	}
	s.repo.Close()
	s.log.Info("shut down")
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
