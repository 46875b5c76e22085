package cli

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/mlenv/mlenv/bench/engine"
)

func init() { registerBench(newBenchEngineCmd) }

func newBenchEngineCmd() *cobra.Command {
	var (
		cfg    engine.Config
		secs   float64
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "engine",
		Short: "Measure the deep-learning engine: training/inference examples/s or SGEMM GFLOP/s",
		Long: `Measure the deep-learning engine on this machine. --model mlp, dlrm or cnn
trains the model on a fixed random batch and then runs inference, printing
examples/s for each:
  mlp   MLP 256->512->512->1, ReLU, BCE-with-logits, Adam
  dlrm  13 dense features, 26 tables of 100k x 16 (sparse gradients), dot
        interaction, MLPs 13-512-256-16 and 367-512-256-1, BCE, SGD
  cnn   28x28 images, two 3x3 conv + max-pool blocks (32, 64 channels),
        Linear 3136-128-10, cross-entropy, Adam
--model gemm prints SGEMM GFLOP/s at 512^3 and 2048^3. Warm-up time is
excluded. bench/engine/run.sh runs the same measurements with PyTorch and
prints the ratios.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains(engine.Models, cfg.Model) {
				return usagef("--model %q: want one of %v", cfg.Model, engine.Models)
			}
			if cfg.Threads < 1 {
				return usagef("--threads %d: want at least 1", cfg.Threads)
			}
			if cfg.Batch < 1 {
				return usagef("--batch %d: want at least 1", cfg.Batch)
			}
			if secs <= 0 {
				return usagef("--seconds %g: want a positive duration", secs)
			}
			cfg.Duration = time.Duration(secs * float64(time.Second))
			res, err := engine.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(w).Encode(res)
			}
			fmt.Fprintf(w, "engine mlenv, model %s, threads %d, kernel %s\n", res.Model, res.Threads, res.Kernel)
			if res.TrainPerSec > 0 {
				fmt.Fprintf(w, "batch %d: training %.0f examples/s, inference %.0f examples/s (final loss %.4f)\n",
					res.Batch, res.TrainPerSec, res.InferPerSec, res.FinalLoss)
			}
			for _, n := range []string{"512", "2048"} {
				if g, ok := res.GFLOPS[n]; ok {
					fmt.Fprintf(w, "sgemm %s^3: %.1f GFLOP/s\n", n, g)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Model, "model", "mlp", "benchmark: mlp, dlrm, cnn or gemm")
	f.IntVar(&cfg.Threads, "threads", 1, "threads (GOMAXPROCS and GEMM threads)")
	f.IntVar(&cfg.Batch, "batch", 512, "MLP batch size")
	f.Float64Var(&secs, "seconds", 3, "measured seconds per figure (warm-up excluded)")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}
