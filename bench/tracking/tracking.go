// Package tracking is a load generator for MLflow-compatible tracking
// servers. It speaks the plain MLflow REST API over keep-alive
// connections, so the same workload can be pointed at mlenv's server or at
// MLflow's own, and reports throughput and latency percentiles.
package tracking

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/track"
)

// Workloads are the names Config.Workload accepts.
var Workloads = []string{"log-batch-10", "log-batch-500", "create-run", "get-history", "search-runs"}

// Config describes one measurement.
type Config struct {
	URI      string        // server base URI, such as http://127.0.0.1:5000
	Clients  int           // concurrent clients, each with its own request loop
	Duration time.Duration // measured time, after setup
	Workload string        // one of Workloads
	// HistoryPoints is the length of the metric get-history reads; 0
	// means 100,000.
	HistoryPoints int
	// SearchRuns is how many runs search-runs searches over; 0 means
	// 100,000.
	SearchRuns int
}

// Result is the outcome of one measurement. Rate is in Unit per second:
// metric points for log-batch, runs for create-run, requests otherwise.
type Result struct {
	Workload string  `json:"workload"`
	URI      string  `json:"uri"`
	Clients  int     `json:"clients"`
	Seconds  float64 `json:"seconds"`
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	Rate     float64 `json:"rate"`
	Unit     string  `json:"unit"`
	P50ms    float64 `json:"p50_ms"`
	P90ms    float64 `json:"p90_ms"`
	P99ms    float64 `json:"p99_ms"`
}

// request is one request of a workload's loop; it returns how many units
// it accomplished.
type request func(ctx context.Context, c *track.Client) (int, error)

// Run sets the workload up (experiments, runs, data) and then drives it
// with cfg.Clients loops for cfg.Duration.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if !slices.Contains(Workloads, cfg.Workload) {
		return Result{}, fmt.Errorf("workload %q: want one of %v", cfg.Workload, Workloads)
	}
	if cfg.Clients < 1 || cfg.Duration <= 0 {
		return Result{}, fmt.Errorf("want at least one client and a positive duration, got %d and %s", cfg.Clients, cfg.Duration)
	}
	if cfg.HistoryPoints == 0 {
		cfg.HistoryPoints = 100_000
	}
	if cfg.SearchRuns == 0 {
		cfg.SearchRuns = 100_000
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = cfg.Clients + 8
	hc := &http.Client{Transport: tr, Timeout: time.Minute}
	c, err := track.NewClient(cfg.URI, track.ClientOptions{HTTPClient: hc, Retries: -1})
	if err != nil {
		return Result{}, err
	}
	loops, unit, err := setup(ctx, c, cfg)
	if err != nil {
		return Result{}, fmt.Errorf("set up %s: %w", cfg.Workload, err)
	}
	res := measure(ctx, c, loops, cfg.Duration)
	res.Workload, res.URI, res.Clients, res.Unit = cfg.Workload, cfg.URI, cfg.Clients, unit
	return res, nil
}

// setup prepares the server and returns one request loop per client.
func setup(ctx context.Context, c *track.Client, cfg Config) ([]request, string, error) {
	loops := make([]request, cfg.Clients)
	switch cfg.Workload {
	case "log-batch-10", "log-batch-500":
		n := 10
		if cfg.Workload == "log-batch-500" {
			n = 500
		}
		exp, err := freshExperiment(ctx, c, "mlenv-bench-log-batch")
		if err != nil {
			return nil, "", err
		}
		for i := range loops {
			run, err := c.CreateRun(ctx, store.RunCreate{ExperimentID: exp, RunName: fmt.Sprintf("client-%d", i)})
			if err != nil {
				return nil, "", err
			}
			loops[i] = logBatchLoop(run.Info.RunID, n)
		}
		return loops, "points", nil
	case "create-run":
		exp, err := freshExperiment(ctx, c, "mlenv-bench-create-run")
		if err != nil {
			return nil, "", err
		}
		for i := range loops {
			loops[i] = func(ctx context.Context, c *track.Client) (int, error) {
				_, err := c.CreateRun(ctx, store.RunCreate{ExperimentID: exp, StartTime: time.Now().UnixMilli(), UserID: "bench",
					Tags: []store.Tag{{Key: "mlflow.user", Value: "bench"}, {Key: "mlflow.source.name", Value: "bench"}, {Key: "mlflow.source.type", Value: "LOCAL"}}})
				return 1, err
			}
		}
		return loops, "runs", nil
	case "get-history":
		runID, err := historyRun(ctx, c, cfg.HistoryPoints)
		if err != nil {
			return nil, "", err
		}
		for i := range loops {
			loops[i] = func(ctx context.Context, c *track.Client) (int, error) {
				// The points are counted, not decoded: the client's
				// decoding is not the server's latency.
				var resp struct {
					Metrics []struct{} `json:"metrics"`
				}
				err := c.Do(ctx, "GET", "metrics/get-history", url.Values{"run_id": {runID}, "metric_key": {"loss"}}, &resp)
				if err == nil && len(resp.Metrics) != cfg.HistoryPoints {
					err = fmt.Errorf("get-history returned %d points, want %d", len(resp.Metrics), cfg.HistoryPoints)
				}
				return 1, err
			}
		}
		return loops, "requests", nil
	}
	exp, err := searchExperiment(ctx, c, cfg.SearchRuns, cfg.Clients)
	if err != nil {
		return nil, "", err
	}
	for i := range loops {
		loops[i] = func(ctx context.Context, c *track.Client) (int, error) {
			runs, _, err := c.SearchRuns(ctx, store.RunSearch{ExperimentIDs: []string{exp},
				Search: store.Search{Filter: "metrics.m1 > 0.5", OrderBy: []string{"metrics.m1 DESC"}, MaxResults: 100}})
			if err == nil && len(runs) == 0 {
				err = errors.New("search-runs matched no run")
			}
			return 1, err
		}
	}
	return loops, "requests", nil
}

func logBatchLoop(runID string, n int) request {
	step := int64(0)
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "m" + strconv.Itoa(i)
	}
	return func(ctx context.Context, c *track.Client) (int, error) {
		step++
		now := time.Now().UnixMilli()
		ms := make([]store.Metric, n)
		for i := range ms {
			ms[i] = store.Metric{Key: keys[i], Value: store.Float(rand.Float64()), Timestamp: now, Step: step}
		}
		return n, c.LogBatch(ctx, store.Batch{RunID: runID, Metrics: ms})
	}
}

// freshExperiment creates an experiment with a unique name.
func freshExperiment(ctx context.Context, c *track.Client, prefix string) (string, error) {
	return c.CreateExperiment(ctx, fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()))
}

// reuseExperiment returns the id of the experiment named name if it
// exists, with done=true, or creates it.
func reuseExperiment(ctx context.Context, c *track.Client, name string) (id string, done bool, err error) {
	e, err := c.GetExperimentByName(ctx, name)
	if err == nil {
		return e.ExperimentID, true, nil
	}
	if !store.IsNotFound(err) {
		return "", false, err
	}
	id, err = c.CreateExperiment(ctx, name)
	return id, false, err
}

// historyRun returns a run with a "loss" metric of n points, logging it
// on first use (the experiment's name records n, so reruns reuse it).
func historyRun(ctx context.Context, c *track.Client, n int) (string, error) {
	exp, done, err := reuseExperiment(ctx, c, fmt.Sprintf("mlenv-bench-history-%d", n))
	if err != nil {
		return "", err
	}
	if done {
		runs, _, err := c.SearchRuns(ctx, store.RunSearch{ExperimentIDs: []string{exp}, Search: store.Search{MaxResults: 1,
			Filter: "attributes.status = 'FINISHED'"}})
		if err != nil || len(runs) == 1 {
			return firstRunID(runs), err
		}
	}
	run, err := c.CreateRun(ctx, store.RunCreate{ExperimentID: exp, RunName: "history"})
	if err != nil {
		return "", err
	}
	batch := make([]store.Metric, 0, store.MaxMetricsPerBatch)
	for i := range n {
		batch = append(batch, store.Metric{Key: "loss", Value: store.Float(1 / float64(i+1)), Timestamp: int64(i), Step: int64(i)})
		if len(batch) == cap(batch) || i == n-1 {
			if err := c.LogBatch(ctx, store.Batch{RunID: run.Info.RunID, Metrics: batch}); err != nil {
				return "", err
			}
			batch = batch[:0]
		}
	}
	return run.Info.RunID, c.EndRun(ctx, run.Info.RunID, "FINISHED")
}

func firstRunID(runs []store.Run) string {
	if len(runs) == 0 {
		return ""
	}
	return runs[0].Info.RunID
}

// searchExperiment returns an experiment of n runs, each with a metric m1
// drawn uniformly from [0, 1), creating it on first use with workers
// concurrent loops.
func searchExperiment(ctx context.Context, c *track.Client, n, workers int) (string, error) {
	exp, done, err := reuseExperiment(ctx, c, fmt.Sprintf("mlenv-bench-search-%d", n))
	if err != nil || done {
		return exp, err
	}
	workers = max(workers, 8)
	next := make(chan int)
	errc := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				run, err := c.CreateRun(ctx, store.RunCreate{ExperimentID: exp, RunName: "r" + strconv.Itoa(i)})
				if err == nil {
					err = c.LogBatch(ctx, store.Batch{RunID: run.Info.RunID, Metrics: []store.Metric{{Key: "m1", Value: store.Float(rand.Float64()), Timestamp: 1}},
						Params: []store.Param{{Key: "lr", Value: "0.01"}}})
				}
				if err != nil {
					errc <- err
					return
				}
			}
		})
	}
	var ferr error
feed:
	for i := range n {
		select {
		case next <- i:
		case ferr = <-errc:
			break feed
		}
	}
	close(next)
	wg.Wait()
	if ferr == nil && len(errc) > 0 {
		ferr = <-errc
	}
	return exp, ferr
}

// measure runs the loops concurrently for d and collects latencies.
func measure(ctx context.Context, c *track.Client, loops []request, d time.Duration) Result {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	type tally struct {
		lat          []time.Duration
		units, fails int
	}
	tallies := make([]tally, len(loops))
	start := time.Now()
	var wg sync.WaitGroup
	for i, loop := range loops {
		wg.Go(func() {
			t := &tallies[i]
			for ctx.Err() == nil {
				t0 := time.Now()
				n, err := loop(ctx, c)
				if ctx.Err() != nil {
					return // cut short by the deadline: not counted
				}
				t.lat = append(t.lat, time.Since(t0))
				if err != nil {
					t.fails++
					continue
				}
				t.units += n
			}
		})
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	var all []time.Duration
	res := Result{Seconds: secs}
	for _, t := range tallies {
		all = append(all, t.lat...)
		res.Errors += t.fails
		res.Rate += float64(t.units)
	}
	res.Requests = len(all)
	res.Rate /= secs
	slices.Sort(all)
	res.P50ms, res.P90ms, res.P99ms = pct(all, 0.50), pct(all, 0.90), pct(all, 0.99)
	return res
}

// pct returns the q-quantile of sorted durations in milliseconds.
func pct(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return float64(sorted[int(q*float64(len(sorted)-1))].Microseconds()) / 1000
}
