package cli

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/mlenv/mlenv/tune"
	"github.com/mlenv/mlenv/tune/benchfn"
)

func init() { registerBench(newBenchTuneCmd) }

// tuneBenchResult is the --json output of `mlenv bench tune`; the Optuna
// script bench/tune/optuna_bench.py prints the same shape.
type tuneBenchResult struct {
	Function string    `json:"function"`
	Sampler  string    `json:"sampler"`
	Trials   int       `json:"trials"`
	Seeds    []int     `json:"seeds"`
	Best     []float64 `json:"best"`
	Median   float64   `json:"median"`
}

func newBenchTuneCmd() *cobra.Command {
	var (
		function, sampler string
		trials, seeds     int
		workers           int
		asJSON, report    bool
	)
	cmd := &cobra.Command{
		Use:   "tune",
		Short: "Minimise a standard test function with a tuning sampler over several seeds",
		Long: `Minimise a test function (` + strings.Join(benchfn.Names(), ", ") + `) with one
sampler, once per seed 0..seeds-1, and print each seed's best value and the
median. bench/tune/run.sh compares the result with Optuna.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := benchfn.Get(function)
			if err != nil {
				return usagef("--function: %v", err)
			}
			if _, err := tune.NewSampler(sampler, 0); err != nil {
				return usagef("--sampler: %v", err)
			}
			if trials < 1 || seeds < 1 || workers < 1 {
				return usagef("--trials, --seeds and --workers must be at least 1")
			}
			if report {
				s, _ := tune.NewSampler(sampler, 0)
				study, err := benchfn.Run(cmd.Context(), f, s, trials)
				if err != nil {
					return err
				}
				return tune.WriteReport(cmd.OutOrStdout(), f.Space, study.Trials(), false, 10)
			}
			res := tuneBenchResult{Function: function, Sampler: sampler, Trials: trials,
				Seeds: make([]int, seeds), Best: make([]float64, seeds)}
			errs := make([]error, seeds)
			var wg sync.WaitGroup
			next := make(chan int)
			for range workers {
				wg.Go(func() {
					for seed := range next {
						s, _ := tune.NewSampler(sampler, uint64(seed))
						res.Seeds[seed] = seed
						res.Best[seed], errs[seed] = benchfn.Best(cmd.Context(), f, s, trials)
					}
				})
			}
			for seed := range seeds {
				next <- seed
			}
			close(next)
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					return err
				}
			}
			res.Median = tune.MedianOf(res.Best)
			w := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(w).Encode(res)
			}
			fmt.Fprintf(w, "%s, sampler %s, %d trials (minimum %g)\n", function, sampler, trials, f.Minimum)
			for i, b := range res.Best {
				fmt.Fprintf(w, "seed %2d  best %.6g\n", res.Seeds[i], b)
			}
			fmt.Fprintf(w, "median   %.6g\n", res.Median)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&function, "function", "branin", "test function: "+strings.Join(benchfn.Names(), ", "))
	fl.StringVar(&sampler, "sampler", "tpe", "sampler: "+strings.Join(tune.SamplerNames(), ", "))
	fl.IntVar(&trials, "trials", 50, "trials per seed")
	fl.IntVar(&seeds, "seeds", 20, "number of seeds (0..seeds-1)")
	fl.IntVar(&workers, "workers", runtime.GOMAXPROCS(0), "seeds run at once")
	fl.BoolVar(&asJSON, "json", false, "print one JSON object")
	fl.BoolVar(&report, "report", false, "run seed 0 only and print its ranked trials and parameter importances")
	return cmd
}
