package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	trainbench "github.com/mlenv/mlenv/bench/train"
)

func init() { registerBench(newBenchTrainCmd) }

func newBenchTrainCmd() *cobra.Command {
	var (
		cfg    trainbench.Config
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Measure end-to-end training: examples/s and data-pipeline time against compute",
		Long: `Measure the trainer end to end on this machine: write a synthetic
click-through data set (Parquet, 13 numeric and 26 categorical features),
train an MLP on it through the streaming pipeline (fit, shuffle, batch,
prefetch) with Adam, evaluate on a validation file each epoch, and report
examples/s of the whole run, the time spent waiting for data, in training
steps and in evaluation, and the throughput of the data pipeline alone.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for name, v := range map[string]int{"--rows": cfg.Rows, "--epochs": cfg.Epochs, "--batch": cfg.Batch, "--threads": cfg.Threads} {
				if v < 1 {
					return usagef("%s %d: want at least 1", name, v)
				}
			}
			res, err := trainbench.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(w).Encode(res)
			}
			fmt.Fprintf(w, "mlp %v, %d rows x %d epochs, batch %d, threads %d\n", res.Hidden, res.Rows, res.Epochs, res.Batch, res.Threads)
			fmt.Fprintf(w, "end to end %.0f examples/s (steps alone %.0f); data pipeline alone %.0f examples/s\n",
				res.TrainPerSec, res.StepPerSec, res.PipelinePerSec)
			fmt.Fprintf(w, "time %.2fs: setup %.2fs, waiting for data %.2fs, steps %.2fs, evaluation %.2fs\n",
				res.TotalSeconds, res.SetupSeconds, res.DataSeconds, res.StepSeconds, res.EvalSeconds)
			fmt.Fprintf(w, "validation AUC %.4f (Bayes-optimal %.4f)\n", res.AUC, res.BayesAUC)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Rows, "rows", 200000, "training rows")
	f.IntVar(&cfg.Epochs, "epochs", 2, "passes over the training rows")
	f.IntVar(&cfg.Batch, "batch", 512, "batch size")
	f.IntVar(&cfg.Threads, "threads", 1, "GOMAXPROCS during the run")
	f.IntSliceVar(&cfg.Hidden, "hidden", []int{256, 128}, "MLP hidden widths")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}
