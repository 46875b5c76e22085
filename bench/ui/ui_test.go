// Package uibench measures mlenv's web UI in headless Chromium against an
// in-process server: how long the runs page of an experiment with 10,000
// runs takes to become interactive, how long sorting and filtering those
// runs take, and how long a run page with a 1,000,000-point metric takes
// to draw its chart. Timings are read in the browser (Performance API).
// Each benchmark runs over SQLite and, when MLENV_TEST_POSTGRES names a
// database (scripts/with-postgres.sh sets it), over PostgreSQL too.
//
//	go test -run '^$' -bench . -benchtime 3x ./bench/ui/
//	scripts/with-postgres.sh go test -run '^$' -bench . -benchtime 3x ./bench/ui/
package uibench

import (
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/store/storetest"
	"github.com/mlenv/mlenv/ui/uitest"
)

// parallel runs f(i) for i in [0, n) on 8 goroutines, failing b on the
// first error.
func parallel(b *testing.B, n int, f func(i int) error) {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	go func() {
		defer close(next)
		for i := range n {
			select {
			case next <- i:
			case err := <-errs:
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

// backEnds runs f as a sub-benchmark per store back end, each with a
// server over a fresh store.
func backEnds(b *testing.B, f func(b *testing.B, env *uitest.Env)) {
	b.Run("sqlite", func(b *testing.B) { f(b, uitest.StartOn(b, storetest.SQLite(b))) })
	if dsn := os.Getenv(storetest.EnvPostgres); dsn != "" {
		b.Run("postgres", func(b *testing.B) { f(b, uitest.StartOn(b, storetest.Postgres(b, dsn))) })
	}
}

// logRuns creates an experiment of n finished runs, each with 5 params,
// 3 metrics and 2 tags, through the REST API.
func logRuns(b *testing.B, env *uitest.Env, n int) string {
	ctx := context.Background()
	expID, err := env.Client.CreateExperiment(ctx, "bench-10k")
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	parallel(b, n, func(i int) error {
		run, err := env.Client.CreateRun(ctx, store.RunCreate{ExperimentID: expID, RunName: fmt.Sprintf("run-%05d", i), StartTime: start.UnixMilli() + int64(i)})
		if err != nil {
			return err
		}
		id := run.Info.RunID
		x := float64(i) / float64(n)
		batch := store.Batch{RunID: id,
			Params: []store.Param{{Key: "lr", Value: fmt.Sprint(math.Pow(10, -1-3*x))}, {Key: "layers", Value: fmt.Sprint(1 + i%4)},
				{Key: "optimizer", Value: []string{"adam", "sgd", "adagrad"}[i%3]}, {Key: "batch_size", Value: fmt.Sprint(64 << (i % 4))}, {Key: "seed", Value: fmt.Sprint(i)}},
			Metrics: []store.Metric{{Key: "auc", Value: store.Float(0.7 + 0.2*x), Timestamp: start.UnixMilli()}, {Key: "loss", Value: store.Float(1 - x), Timestamp: start.UnixMilli()},
				{Key: "examples_per_s", Value: store.Float(1000 + float64(i%500)), Timestamp: start.UnixMilli()}},
			Tags: []store.Tag{{Key: "team", Value: fmt.Sprint("t", i%5)}, {Key: "study", Value: "s1"}}}
		if err := env.Client.LogBatch(ctx, batch); err != nil {
			return err
		}
		return env.Client.EndRun(ctx, id, "FINISHED")
	})
	b.Logf("logged %d runs through the REST API in %s", n, time.Since(start).Round(time.Millisecond))
	return expID
}

// load opens route in a fresh page load and returns the milliseconds
// from navigation start to the UI's ready mark.
func load(b *testing.B, ctx context.Context, base, route string) float64 {
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		b.Fatal(err)
	}
	uitest.Navigate(b, ctx, base, route)
	return uitest.Eval[float64](b, ctx, `performance.getEntriesByName('ui-ready').pop().startTime`)
}

// requestMS returns the duration in ms of the last resource request whose
// URL contains part.
func requestMS(b *testing.B, ctx context.Context, part string) float64 {
	return uitest.Eval[float64](b, ctx, fmt.Sprintf(`(() => { const r = performance.getEntriesByType('resource').filter(e => e.name.includes(%q)).pop(); return r ? r.responseEnd - r.startTime : -1 })()`, part))
}

// tableChange runs action (JavaScript) on the runs page and returns the
// milliseconds until the runs table is replaced by the new rows.
func tableChange(b *testing.B, ctx context.Context, action string) float64 {
	return uitest.Eval[float64](b, ctx, `(async () => {
		const old = document.querySelector('#runs'), t0 = performance.now();
		`+action+`;
		await new Promise(res => { const f = () => document.querySelector('#runs') !== old ? res() : requestAnimationFrame(f); f(); });
		return performance.now() - t0 })()`)
}

func BenchmarkRunsPage10k(b *testing.B) { backEnds(b, runsPage10k) }

func runsPage10k(b *testing.B, env *uitest.Env) {
	expID := logRuns(b, env, 10_000)
	ctx := uitest.Browser(b)
	load(b, ctx, env.URL, "") // starts the browser's renderer; not measured
	var ready, search, sort, filter float64
	for b.Loop() {
		ready += load(b, ctx, env.URL, "#/experiments/"+expID)
		search += requestMS(b, ctx, "runs/search")
		if n := uitest.Eval[int](b, ctx, `document.querySelectorAll('#runs tbody tr').length`); n != 100 {
			b.Fatalf("runs page shows %d rows, want a page of 100", n)
		}
		sort += tableChange(b, ctx, `[...document.querySelectorAll('#runs thead th button')].find(x => x.innerText.includes('metric: auc')).click()`)
		if first := uitest.Eval[string](b, ctx, `document.querySelector('#runs tbody td:nth-child(2)').innerText`); first != "run-09999" {
			b.Fatalf("sorted by auc descending, first run is %s, want run-09999", first)
		}
		filter += tableChange(b, ctx, `document.querySelector('input[name=filter]').value = "params.optimizer = 'sgd' and metrics.auc > 0.85"; document.querySelector('form[role=search]').requestSubmit()`)
	}
	n := float64(b.N)
	b.ReportMetric(ready/n, "ms-interactive")
	b.ReportMetric(search/n, "ms-search-request")
	b.ReportMetric(sort/n, "ms-sort-by-metric")
	b.ReportMetric(filter/n, "ms-filter")
	b.ReportMetric(0, "ns/op")
}

func BenchmarkMetricChart1M(b *testing.B) { backEnds(b, metricChart1M) }

func metricChart1M(b *testing.B, env *uitest.Env) {
	const points = 1_000_000
	ctx0 := context.Background()
	expID, err := env.Client.CreateExperiment(ctx0, "bench-1m")
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	run, err := env.Client.CreateRun(ctx0, store.RunCreate{ExperimentID: expID, RunName: "long", StartTime: start.UnixMilli()})
	if err != nil {
		b.Fatal(err)
	}
	id := run.Info.RunID
	parallel(b, points/1000, func(k int) error {
		batch := store.Batch{RunID: id, Metrics: make([]store.Metric, 1000)}
		for j := range batch.Metrics {
			i := k*1000 + j
			v := 2*math.Exp(-float64(i)/200_000) + 0.1*math.Sin(float64(i)/5000)
			if i == 777_777 {
				v = 25 // a spike the chart must keep
			}
			batch.Metrics[j] = store.Metric{Key: "loss", Value: store.Float(v), Timestamp: start.UnixMilli() + int64(i), Step: int64(i)}
		}
		return env.Client.LogBatch(ctx0, batch)
	})
	b.Logf("logged %d points through the REST API in %s", points, time.Since(start).Round(time.Millisecond))
	ctx := uitest.Browser(b)
	load(b, ctx, env.URL, "")
	// A series this long is reduced in the store on every step-axis view
	// (the UI caches only the series it reads whole), so the first view
	// and later ones take the same path, the later ones with the store's
	// pages in memory.
	cold := load(b, ctx, env.URL, "#/runs/"+id)
	coldHistory := requestMS(b, ctx, "ui-api/metric-history")
	checkChart(b, ctx, points)
	var ready, history float64
	for b.Loop() {
		ready += load(b, ctx, env.URL, "#/runs/"+id)
		history += requestMS(b, ctx, "ui-api/metric-history")
		checkChart(b, ctx, points)
	}
	b.ReportMetric(cold, "ms-chart-drawn-first")
	b.ReportMetric(coldHistory, "ms-history-request-first")
	b.ReportMetric(ready/float64(b.N), "ms-chart-drawn-again")
	b.ReportMetric(history/float64(b.N), "ms-history-request-again")
	b.ReportMetric(0, "ns/op")
}

// checkChart fails b unless the chart on the page covers all points of
// the metric and kept its spike.
func checkChart(b *testing.B, ctx context.Context, points int) {
	label := uitest.Eval[string](b, ctx, `document.querySelector('figure.chart canvas').getAttribute('aria-label')`)
	total := uitest.Eval[int](b, ctx, `document.querySelector('figure.chart').dataset.total|0`)
	if total != points {
		b.Fatalf("chart reports %d points, want %d (%s)", total, points, label)
	}
	if !strings.HasSuffix(label, " to 25") {
		b.Fatalf("chart lost the spike: %s", label)
	}
}
