package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	explainbench "github.com/mlenv/mlenv/bench/explain"
	"github.com/mlenv/mlenv/explain"
)

func init() { registerBench(newBenchExplainCmd) }

func newBenchExplainCmd() *cobra.Command {
	var (
		cfg    explainbench.Config
		method string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "explain",
		Short: "Measure integrated gradients on a DLRM-style model: examples explained per second",
		Long: `Measure integrated gradients (mlenv explain) on a DLRM-style model with
random weights: 13 dense features, 26 tables of 100k x 16, dot interaction,
MLPs 13-512-256-16 and 367-512-256-1. It explains --examples random
examples against the zero baseline with --steps path points each (no step
refinement) and prints examples/s. bench/explain/run.sh runs the same
computation in PyTorch and prints the ratio.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := explain.ParseMethod(method)
			if err != nil {
				return usagef("--method: %v", err)
			}
			cfg.Method = m
			switch {
			case cfg.Examples < 1:
				return usagef("--examples %d: want at least 1", cfg.Examples)
			case cfg.Steps < 2:
				return usagef("--steps %d: want at least 2", cfg.Steps)
			case cfg.Threads < 1:
				return usagef("--threads %d: want at least 1", cfg.Threads)
			case cfg.Workers < 0:
				return usagef("--workers %d: want 0 (as many as threads) or more", cfg.Workers)
			}
			res, err := explainbench.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(w).Encode(res)
			}
			fmt.Fprintf(w, "explain mlenv: %d examples x %d steps (%s), threads %d, workers %d, kernel %s\n%.2f s, %.0f examples/s (%.0f per CPU-second), completeness error %.3g%%\n",
				res.Examples, res.Steps, res.Method, res.Threads, res.Workers, res.Kernel, res.Seconds, res.ExamplesPerSec, res.ExamplesPerCPUSec, 100*res.MeanError)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Examples, "examples", 10_000, "examples to explain")
	f.IntVar(&cfg.Steps, "steps", explain.DefaultSteps, "path points per example")
	f.StringVar(&method, "method", string(explain.DefaultMethod), "quadrature rule: gausslegendre or riemann_trapezoid")
	f.IntVar(&cfg.Threads, "threads", 1, "threads (GOMAXPROCS and GEMM threads)")
	f.IntVar(&cfg.Workers, "workers", 0, "explain workers (0: as many as threads)")
	f.IntVar(&cfg.MaxRows, "max-rows", 0, "path points per forward/backward pass (0: explain's default)")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}
