package cli

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/mlenv/mlenv/bench/tracking"
)

func init() { registerBench(newBenchTrackingCmd) }

func newBenchTrackingCmd() *cobra.Command {
	var (
		cfg    tracking.Config
		secs   float64
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "tracking",
		Short: "Load-test an MLflow-compatible tracking server (mlenv's or MLflow's own)",
		Long: `Drive a tracking server with --clients concurrent keep-alive clients for
--seconds, speaking the plain MLflow REST API, and print throughput and
latency percentiles. Workloads:
  log-batch-10   runs/log-batch with 10 metrics per call (points/s)
  log-batch-500  runs/log-batch with 500 metrics per call (points/s)
  create-run     runs/create (runs/s)
  get-history    metrics/get-history of one metric of --history-points points
  search-runs    runs/search over --search-runs runs, filter metrics.m1 > 0.5,
                 ordered by it, 100 results
get-history and search-runs log their data on first use into experiments
named after the size, and reuse it on later runs against the same server.`,
		Example: `  mlenv server --db sqlite:////tmp/bench.db --artifacts /tmp/bench-art &
  mlenv bench tracking --uri http://127.0.0.1:5000 --clients 20 --seconds 10 --workload log-batch-10`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains(tracking.Workloads, cfg.Workload) {
				return usagef("--workload %q: want one of %v", cfg.Workload, tracking.Workloads)
			}
			if cfg.Clients < 1 {
				return usagef("--clients %d: want at least 1", cfg.Clients)
			}
			if secs <= 0 {
				return usagef("--seconds %g: want a positive duration", secs)
			}
			if cfg.HistoryPoints < 1 || cfg.SearchRuns < 1 {
				return usagef("--history-points and --search-runs must be at least 1")
			}
			cfg.Duration = time.Duration(secs * float64(time.Second))
			res, err := tracking.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(w).Encode(res)
			}
			fmt.Fprintf(w, "%s against %s, %d clients, %.1f s: %.0f %s/s, %d requests (%d errors), latency p50 %.1f ms, p90 %.1f ms, p99 %.1f ms\n",
				res.Workload, res.URI, res.Clients, res.Seconds, res.Rate, res.Unit, res.Requests, res.Errors, res.P50ms, res.P90ms, res.P99ms)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.URI, "uri", "http://127.0.0.1:5000", "tracking server URI")
	f.IntVar(&cfg.Clients, "clients", 20, "concurrent clients")
	f.Float64Var(&secs, "seconds", 10, "measured seconds (set-up excluded)")
	f.StringVar(&cfg.Workload, "workload", "log-batch-10", "workload: log-batch-10, log-batch-500, create-run, get-history or search-runs")
	f.IntVar(&cfg.HistoryPoints, "history-points", 100_000, "points of the metric get-history reads")
	f.IntVar(&cfg.SearchRuns, "search-runs", 100_000, "runs search-runs searches over")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}
