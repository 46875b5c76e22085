package cli

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	servebench "github.com/mlenv/mlenv/bench/serve"
)

func init() { registerBench(newBenchServeCmd) }

func newBenchServeCmd() *cobra.Command {
	var (
		cfg    servebench.Config
		secs   float64
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Load-test an Open Inference Protocol (KServe v2) server over HTTP or gRPC",
		Long: `Send infer requests to --model on any Open Inference Protocol server
(mlenv serve, Triton, KServe) for --seconds and print throughput and
latency percentiles. The request is built from the model's metadata with
random inputs (--rows rows each). --protocol http (the default) sends JSON,
or with --binary the binary tensor data extension (inputs and outputs as
raw bytes after a JSON header); --protocol grpc calls
inference.GRPCInferenceService/ModelInfer at the address --uri with the
inputs in raw_input_contents, as Triton's clients do. Closed loop by default: --concurrency
callers, each sending its next request when the last is answered. With
--rate, open loop: requests start at that rate whatever the server's
speed, at most --concurrency in flight (the rest are counted as dropped),
and 429 (gRPC RESOURCE_EXHAUSTED) answers are counted as rejected.`,
		Example: `  mlenv serve mlenv-models/ctr-dlrm &
  mlenv bench serve --uri http://127.0.0.1:8000 --model ctr-dlrm --concurrency 32 --seconds 10
  mlenv bench serve --protocol grpc --uri 127.0.0.1:8001 --model ctr-dlrm --concurrency 32`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case cfg.Model == "":
				return usagef("--model is required")
			case cfg.Concurrency < 1:
				return usagef("--concurrency %d: want at least 1", cfg.Concurrency)
			case secs <= 0:
				return usagef("--seconds %g: want a positive duration", secs)
			case cfg.Rate < 0:
				return usagef("--rate %g: want 0 (closed loop) or more", cfg.Rate)
			case cfg.Rows < 1:
				return usagef("--rows %d: want at least 1", cfg.Rows)
			case cfg.Protocol != servebench.HTTP && cfg.Protocol != servebench.GRPC:
				return usagef("--protocol %q: want http or grpc", cfg.Protocol)
			case cfg.Binary && cfg.Protocol == servebench.GRPC:
				return usagef("--binary is for --protocol http; gRPC requests always carry raw bytes")
			}
			cfg.Duration = time.Duration(secs * float64(time.Second))
			st, err := servebench.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(w).Encode(st)
			}
			fmt.Fprintf(w, "%s at %s, concurrency %d, %.1f s: %.0f req/s, %d ok, %d rejected (429), %d dropped, %d failed; latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
				cfg.Model, cfg.URL, cfg.Concurrency, st.Seconds, st.PerSecond, st.Requests, st.Rejected, st.Dropped, st.Failed,
				ms(st.P50), ms(st.P90), ms(st.P99), ms(st.Max))
			if st.FirstErr != "" {
				fmt.Fprintf(w, "first error: %s\n", st.FirstErr)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.URL, "uri", "http://127.0.0.1:8000", "server base URL (HTTP), or host:port (gRPC)")
	f.StringVar(&cfg.Protocol, "protocol", servebench.HTTP, "http or grpc")
	f.BoolVar(&cfg.Binary, "binary", false, "HTTP: send inputs and ask for outputs in the binary tensor data extension")
	f.StringVar(&cfg.Model, "model", "", "model name")
	f.IntVar(&cfg.Concurrency, "concurrency", 8, "concurrent callers, or the cap on requests in flight with --rate")
	f.Float64Var(&secs, "seconds", 10, "how long to send requests")
	f.Float64Var(&cfg.Rate, "rate", 0, "requests per second (open loop); 0 for a closed loop")
	f.IntVar(&cfg.Rows, "rows", 1, "rows per request")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

// ms converts a duration to fractional milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
