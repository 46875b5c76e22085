package cli

import (
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mlenv/mlenv/server"
)

func init() { register(newServerCmd) }

func newServerCmd() *cobra.Command {
	var (
		cfg   server.Config
		drain time.Duration
	)
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the MLflow-compatible tracking and model registry server",
		Long: `Run the tracking and model registry server. It speaks MLflow's REST API
(/api/2.0/mlflow/...) and artifact proxy (/api/2.0/mlflow-artifacts/...), so
the MLflow client works against it unchanged:

  mlenv server &
  MLFLOW_TRACKING_URI=http://127.0.0.1:5000 python train.py

The web UI is served at the same address (http://HOST:PORT/).
With no flags it keeps its data in ./mlruns (SQLite file and artifact
directory). --db postgres://user@host/db uses PostgreSQL; --artifacts
s3://bucket/prefix uses an S3-compatible store (endpoint and credentials
from MLFLOW_S3_ENDPOINT_URL / AWS_* variables). SIGTERM or Ctrl-C stops
taking requests, finishes those in flight and exits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.Port < 0 || cfg.Port > 65535 {
				return usagef("--port %d: want 0 to 65535", cfg.Port)
			}
			if drain <= 0 {
				return usagef("--drain-timeout %s: want a positive duration", drain)
			}
			cfg.DrainTimeout = drain
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			srv, err := server.New(ctx, cfg)
			if err != nil {
				return err
			}
			return srv.Run(ctx, nil)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Host, "host", server.DefaultHost, "address to listen on")
	f.IntVar(&cfg.Port, "port", server.DefaultPort, "port to listen on (0 picks a free one)")
	f.StringVar(&cfg.DB, "db", server.DefaultDB, "store: sqlite:///relative.db, sqlite:////absolute.db or postgres://...")
	f.StringVar(&cfg.Artifacts, "artifacts", server.DefaultArtifacts, "artifact store: a directory, file:///dir or s3://bucket/prefix")
	f.DurationVar(&drain, "drain-timeout", 30*time.Second, "how long shutdown waits for in-flight requests")
	return cmd
}
