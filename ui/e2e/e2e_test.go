// Package e2e tests mlenv's web UI end to end: a real server over a
// temporary SQLite store, data logged through the REST API, and the pages
// driven in headless Chromium.
package e2e

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mlenv/mlenv/serve"
	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/ui"
	"github.com/mlenv/mlenv/ui/uitest"
)

// experiment creates an experiment with n finished runs: run-i has params
// lr = 0.001*(i+1) and optimizer adam (even i) or sgd (odd i), tag
// team=a|b, and a metric acc = 0.5 + i/(2n) with 50 steps ending there.
func experiment(t *testing.T, env *uitest.Env, name string, n int) (expID string, runIDs []string) {
	ctx := context.Background()
	expID, err := env.Client.CreateExperiment(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		run, err := env.Client.CreateRun(ctx, store.RunCreate{ExperimentID: expID, RunName: fmt.Sprintf("run-%02d", i),
			StartTime: time.Now().UnixMilli() - int64(n-i)*1000})
		if err != nil {
			t.Fatal(err)
		}
		opt, team := "adam", "a"
		if i%2 == 1 {
			opt, team = "sgd", "b"
		}
		final := 0.5 + float64(i)/float64(2*n)
		b := store.Batch{RunID: run.Info.RunID,
			Params: []store.Param{{Key: "lr", Value: fmt.Sprintf("%.3f", 0.001*float64(i+1))}, {Key: "optimizer", Value: opt}},
			Tags:   []store.Tag{{Key: "team", Value: team}}}
		for s := range 50 {
			b.Metrics = append(b.Metrics, store.Metric{Key: "acc", Value: store.Float(final * float64(s+1) / 50), Timestamp: run.Info.StartTime + int64(s)*100, Step: int64(s)})
		}
		if err := env.Client.LogBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.EndRun(ctx, run.Info.RunID, "FINISHED"); err != nil {
			t.Fatal(err)
		}
		runIDs = append(runIDs, run.Info.RunID)
	}
	return expID, runIDs
}

// rowTexts returns the text of column col (1-based, counting the
// selection column) of every row of the runs table.
func rowTexts(t *testing.T, ctx context.Context, col int) []string {
	return uitest.Eval[[]string](t, ctx, fmt.Sprintf(`[...document.querySelectorAll('#runs tbody tr')].map(r => r.cells[%d].innerText)`, col-1))
}

// columnOf returns the 1-based index of the runs table column whose
// header contains label.
func columnOf(t *testing.T, ctx context.Context, label string) int {
	i := uitest.Eval[int](t, ctx, fmt.Sprintf(`[...document.querySelectorAll('#runs thead th')].findIndex(th => th.innerText.includes(%q))`, label))
	if i < 0 {
		t.Fatalf("runs table has no column %q", label)
	}
	return i + 1
}

// filter types expr into the runs filter and submits it.
func filter(t *testing.T, ctx context.Context, expr string) {
	uitest.Eval[bool](t, ctx, fmt.Sprintf(`(() => { document.querySelector('input[name=filter]').value = %q;
		document.querySelector('form[role=search]').requestSubmit(); return true })()`, expr))
}

func TestExperimentsAndRunsTable(t *testing.T) {
	env := uitest.Start(t)
	expID, runIDs := experiment(t, env, "e2e-runs", 30)
	ctx := uitest.Browser(t)

	uitest.Navigate(t, ctx, env.URL, "")
	if got := uitest.Eval[[]string](t, ctx, `[...document.querySelectorAll('#experiments tbody a')].map(a => a.innerText)`); !slices.Contains(got, "e2e-runs") {
		t.Fatalf("experiments list = %v, want e2e-runs in it", got)
	}
	uitest.Follow(t, ctx, `#experiments a[href="#/experiments/`+expID+`"]`)
	names := rowTexts(t, ctx, 2)
	if len(names) != 30 || names[0] != "run-29" {
		t.Fatalf("runs table: %d rows starting %v, want 30 newest first (run-29)", len(names), names[:min(3, len(names))])
	}
	uitest.Screenshot(t, ctx, "runs-table")

	// A filter sent to runs/search changes the rows.
	filter(t, ctx, "params.optimizer = 'adam' and metrics.acc > 0.7")
	uitest.WaitFor(t, ctx, `document.querySelectorAll('#runs tbody tr').length === 8`, 10*time.Second)
	for _, v := range rowTexts(t, ctx, columnOf(t, ctx, "param: optimizer")) {
		if v != "adam" {
			t.Errorf("filtered row has optimizer %q, want adam", v)
		}
	}
	if q := uitest.Eval[string](t, ctx, `location.hash`); !strings.Contains(q, "filter=") {
		t.Errorf("filter not kept in the URL: %s", q)
	}

	// A bad filter shows the server's error.
	filter(t, ctx, "params.lr >>> 1")
	uitest.WaitFor(t, ctx, `!!document.querySelector('[role=alert]')`, 10*time.Second)

	// Clearing the filter and sorting by the metric, ascending then descending.
	filter(t, ctx, "")
	uitest.WaitFor(t, ctx, `document.querySelectorAll('#runs tbody tr').length === 30`, 10*time.Second)
	accCol := columnOf(t, ctx, "metric: acc")
	sortBy := fmt.Sprintf(`document.querySelectorAll('#runs thead th')[%d].querySelector('button')`, accCol-1)
	for _, want := range []string{"run-29", "run-00"} {
		uitest.Eval[bool](t, ctx, sortBy+`.click() || true`)
		uitest.WaitFor(t, ctx, fmt.Sprintf(`document.querySelector('#runs tbody tr td:nth-child(2)')?.innerText === %q`, want), 10*time.Second)
	}

	// The column picker adds the tag column.
	uitest.Eval[bool](t, ctx, `document.querySelector('details.picker').open = true`)
	uitest.Eval[bool](t, ctx, `[...document.querySelectorAll('details.picker label')].find(l => l.innerText.trim() === 'team').querySelector('input').click() || true`)
	uitest.WaitFor(t, ctx, `[...document.querySelectorAll('#runs thead th')].some(th => th.innerText.includes('tag: team'))`, 5*time.Second)
	if got := rowTexts(t, ctx, columnOf(t, ctx, "tag: team")); got[0] != "a" || got[1] != "b" {
		t.Errorf("team column starts %v, want a, b", got[:2])
	}

	// A run link navigates to the run page.
	uitest.Follow(t, ctx, `#runs a[href="#/runs/`+runIDs[0]+`"]`)
	if h1 := uitest.Eval[string](t, ctx, `document.querySelector('h1').innerText`); h1 != "run-00" {
		t.Errorf("run page heading %q, want run-00", h1)
	}
}

func TestRunPagePagination(t *testing.T) {
	env := uitest.Start(t)
	expID, _ := experiment(t, env, "e2e-pages", 130)
	ctx := uitest.Browser(t)
	uitest.Navigate(t, ctx, env.URL, "#/experiments/"+expID)
	if n := len(rowTexts(t, ctx, 2)); n != 100 {
		t.Fatalf("first page has %d rows, want 100", n)
	}
	uitest.Eval[bool](t, ctx, `[...document.querySelectorAll('button')].find(b => b.innerText.startsWith('Next')).click() || true`)
	uitest.WaitFor(t, ctx, `document.querySelectorAll('#runs tbody tr').length === 30`, 10*time.Second)
	if got := rowTexts(t, ctx, 2); got[len(got)-1] != "run-00" {
		t.Errorf("second page ends with %q, want run-00", got[len(got)-1])
	}

	// Sort order and columns come back from a link.
	uitest.Navigate(t, ctx, env.URL, "#/experiments/"+expID+"?order=attributes.run_name+ASC&col=tags%3Ateam")
	if got := rowTexts(t, ctx, 2); got[0] != "run-00" || got[1] != "run-01" {
		t.Errorf("sorted by name: rows start %v, want run-00, run-01", got[:2])
	}
	heads := uitest.Eval[[]string](t, ctx, `[...document.querySelectorAll('#runs thead th')].map(th => th.innerText + '|' + (th.getAttribute('aria-sort') || ''))`)
	if want := []string{"✓|", "Run|ascending", "Status|", "Started|", "Duration|", "tag: team|"}; !slices.Equal(heads, want) {
		t.Errorf("headers = %q, want %q", heads, want)
	}
}

func TestRunPage(t *testing.T) {
	env := uitest.Start(t)
	ctx0 := context.Background()
	expID, err := env.Client.CreateExperiment(ctx0, "e2e-run")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().UnixMilli()
	run, err := env.Client.CreateRun(ctx0, store.RunCreate{ExperimentID: expID, RunName: "spiky", StartTime: start})
	if err != nil {
		t.Fatal(err)
	}
	id := run.Info.RunID
	// 20,000 points, decaying, with one spike the downsampled chart must keep.
	env.LogMetric(t, id, "loss", 20_000, start, func(i int) float64 {
		if i == 12_345 {
			return 9
		}
		return 2*math.Exp(-float64(i)/4000) + 0.05
	})
	env.LogMetric(t, id, "acc", 100, start, func(i int) float64 { return float64(i) / 100 })
	if err := env.Client.LogBatch(ctx0, store.Batch{RunID: id, Params: []store.Param{{Key: "batch_size", Value: "512"}},
		Tags: []store.Tag{{Key: "mlflow.user", Value: "ada"}}}); err != nil {
		t.Fatal(err)
	}
	env.Upload(t, run.Info.ArtifactURI, "logs/train.log", []byte("epoch 1 loss 0.9\nepoch 2 loss 0.4\n"))
	env.Upload(t, run.Info.ArtifactURI, "model/model.json", []byte(`{"arch":"mlp"}`))

	ctx := uitest.Browser(t)
	uitest.Navigate(t, ctx, env.URL, "#/runs/"+id)
	if got := uitest.Eval[string](t, ctx, `document.querySelector('#params').innerText`); !strings.Contains(got, "batch_size") || !strings.Contains(got, "512") {
		t.Errorf("params table %q lacks batch_size 512", got)
	}
	if got := uitest.Eval[string](t, ctx, `document.querySelector('#tags').innerText`); !strings.Contains(got, "ada") {
		t.Errorf("tags table %q lacks mlflow.user ada", got)
	}
	if got := uitest.Eval[string](t, ctx, `document.querySelector('pre.log').innerText`); !strings.Contains(got, "epoch 2 loss 0.4") {
		t.Errorf("log view %q lacks the log's text", got)
	}

	loss := `[...document.querySelectorAll('figure.chart')].find(f => f.querySelector('figcaption span').innerText === 'loss')`
	points := uitest.Eval[int](t, ctx, loss+`.querySelector('canvas').dataset.points|0`)
	if points < 500 || points > 4000 {
		t.Errorf("loss chart drew %d points, want a downsampled 500..4000 of 20000", points)
	}
	if n := uitest.Eval[int](t, ctx, inked(loss)); n < 300 {
		t.Errorf("loss chart has %d coloured pixels, want a drawn line", n)
	}
	if label := uitest.Eval[string](t, ctx, loss+`.querySelector('canvas').getAttribute('aria-label')`); !strings.Contains(label, "to 9") {
		t.Errorf("chart label %q: the spike of 9 was lost", label)
	}
	uitest.Screenshot(t, ctx, "run-page")

	// Log scale and smoothing redraw; the step range stays.
	uitest.Eval[bool](t, ctx, `(() => { const c = [...document.querySelectorAll('input[type=checkbox]')].find(i => i.parentElement.innerText.includes('Log scale')); c.click(); return true })()`)
	uitest.Eval[bool](t, ctx, `(() => { const r = document.querySelector('input[aria-label=Smoothing]'); r.value = 0.9; r.dispatchEvent(new Event('input')); return true })()`)
	if n := uitest.Eval[int](t, ctx, inked(loss)); n < 300 {
		t.Errorf("smoothed log-scale chart has %d coloured pixels", n)
	}
	uitest.Screenshot(t, ctx, "run-page-log-smoothed")

	// Dragging over the chart zooms in: the server returns the range at full resolution.
	box := uitest.Eval[[]float64](t, ctx, `(() => { const r = `+loss+`.querySelector('canvas').getBoundingClientRect(); return [r.left, r.top, r.width, r.height] })()`)
	y := box[1] + box[3]/2
	x0, x1 := box[0]+box[2]*0.3, box[0]+box[2]*0.35
	if err := chromedp.Do(ctx, chromedp.MouseEvent("mousePressed", x0, y, chromedp.ButtonLeft),
		chromedp.MouseEvent("mouseMoved", x1, y, chromedp.ButtonLeft), chromedp.MouseEvent("mouseReleased", x1, y, chromedp.ButtonLeft)); err != nil {
		t.Fatal(err)
	}
	uitest.WaitFor(t, ctx, loss+`.dataset.inRange < 20000`, 10*time.Second)
	zoomed := uitest.Eval[int](t, ctx, loss+`.querySelector('canvas').dataset.points|0`)
	if zoomed < 100 || zoomed > 2000 {
		t.Errorf("zoomed chart drew %d points, want the ~1000 steps of the dragged range", zoomed)
	}

	// From the keyboard: 0 resets the zoom, + halves the range.
	uitest.Eval[bool](t, ctx, loss+`.querySelector('canvas').focus() || true`)
	if err := chromedp.Do(ctx, chromedp.KeyEvent("0")); err != nil {
		t.Fatal(err)
	}
	uitest.WaitFor(t, ctx, loss+`.dataset.inRange == 20000`, 10*time.Second)
	if err := chromedp.Do(ctx, chromedp.KeyEvent("+")); err != nil {
		t.Fatal(err)
	}
	uitest.WaitFor(t, ctx, loss+`.dataset.inRange > 9000 && `+loss+`.dataset.inRange < 11000`, 10*time.Second)

	// The x axis switches to time.
	uitest.Eval[bool](t, ctx, `(() => { const s = document.querySelector('select[aria-label="X axis"]'); s.value = 'relative'; s.dispatchEvent(new Event('change')); return true })()`)
	uitest.WaitFor(t, ctx, loss+`.querySelector('canvas').getAttribute('aria-label').includes('seconds')`, 10*time.Second)

	// The artifact browser downloads through the proxy.
	uitest.Eval[bool](t, ctx, `[...document.querySelectorAll('#artifacts button')].find(b => b.innerText.includes('model')).click() || true`)
	uitest.WaitFor(t, ctx, `!!document.querySelector('#artifacts a[download="model.json"]')`, 5*time.Second)
	body := uitest.Eval[string](t, ctx, `fetch(document.querySelector('#artifacts a[download="model.json"]').href).then(r => r.text())`)
	if body != `{"arch":"mlp"}` {
		t.Errorf("downloaded model.json = %q", body)
	}

	// The charts of a running run follow new points.
	more := store.Batch{RunID: id}
	for i := 100; i < 150; i++ {
		more.Metrics = append(more.Metrics, store.Metric{Key: "acc", Value: store.Float(float64(i) / 100), Timestamp: start + int64(i), Step: int64(i)})
	}
	if err := env.Client.LogBatch(ctx0, more); err != nil {
		t.Fatal(err)
	}
	acc := `[...document.querySelectorAll('figure.chart')].find(f => f.querySelector('figcaption span').innerText === 'acc')`
	uitest.WaitFor(t, ctx, acc+`.dataset.total == 150`, 15*time.Second)
}

// inked returns a JavaScript expression counting the non-white pixels in
// the plot area of the chart figure fig.
func inked(fig string) string {
	return `(() => { const c = ` + fig + `.querySelector('canvas'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
	let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i+3] > 0 && (Math.abs(d[i] - d[i+2]) > 60)) n++; return n })()`
}

func TestComparePage(t *testing.T) {
	env := uitest.Start(t)
	expID, runIDs := experiment(t, env, "e2e-compare", 6)
	ctx := uitest.Browser(t)
	uitest.Navigate(t, ctx, env.URL, "#/experiments/"+expID)
	for _, id := range runIDs[:3] {
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`tr[data-run-id="`+id+`"] input[type=checkbox]`))); err != nil {
			t.Fatal(err)
		}
	}
	uitest.Follow(t, ctx, `form[role=search] button[type=button]`)
	if n := uitest.Eval[int](t, ctx, `document.querySelectorAll('.legend span').length`); n != 3 {
		t.Errorf("overlay legend has %d runs, want 3", n)
	}
	if n := uitest.Eval[int](t, ctx, `document.querySelector('figure.chart canvas').dataset.points|0`); n != 150 {
		t.Errorf("overlay chart drew %d points, want 3 runs x 50", n)
	}
	if n := uitest.Eval[int](t, ctx, `document.querySelectorAll('svg.parallel polyline').length`); n != 3 {
		t.Errorf("parallel coordinates has %d lines, want 3", n)
	}
	if n := uitest.Eval[int](t, ctx, `document.querySelectorAll('svg.scatter circle').length`); n != 3 {
		t.Errorf("scatter has %d points, want 3", n)
	}
	// The parallel-coordinates axes are the varying params and the metric.
	axes := uitest.Eval[[]string](t, ctx, `[...document.querySelectorAll('svg.parallel > text')].map(t => t.textContent)`)
	for _, want := range []string{"lr", "optimizer", "acc"} {
		if !slices.Contains(axes, want) {
			t.Errorf("parallel coordinates texts %v lack axis %q", axes, want)
		}
	}
	uitest.Screenshot(t, ctx, "compare")
}

func TestModelRegistryPages(t *testing.T) {
	env := uitest.Start(t)
	_, runIDs := experiment(t, env, "e2e-models", 1)
	run, err := env.Client.GetRun(context.Background(), runIDs[0])
	if err != nil {
		t.Fatal(err)
	}
	env.Upload(t, run.Info.ArtifactURI, "model/model.json", []byte(`{"format":1,"name":"ctr","arch":"mlp","mlenv_version":"test",
		"signature":{"inputs":[{"name":"age","type":"numeric"},{"name":"country","type":"categorical"}],"output":{"kind":"probability","width":1}}}`))
	env.Do(t, "POST", "registered-models/create", map[string]any{"name": "ctr", "description": "click model"}, nil)
	for range 2 {
		env.Do(t, "POST", "model-versions/create", map[string]any{"name": "ctr", "source": "runs:/" + runIDs[0] + "/model", "run_id": runIDs[0]}, nil)
	}
	env.Do(t, "POST", "registered-models/alias", map[string]any{"name": "ctr", "alias": "champion", "version": "2"}, nil)
	endpoint := serveONNX(t, "ctr", "2")
	env.Do(t, "POST", "model-versions/set-tag", map[string]any{"name": "ctr", "version": "2", "key": ui.EndpointTag, "value": endpoint}, nil)

	ctx := uitest.Browser(t)
	uitest.Navigate(t, ctx, env.URL, "#/models")
	if got := uitest.Eval[string](t, ctx, `document.querySelector('#models').innerText`); !strings.Contains(got, "ctr") || !strings.Contains(got, "@champion") {
		t.Errorf("models table %q lacks ctr @champion", got)
	}
	uitest.Follow(t, ctx, `#models a[href="#/models/ctr"]`)
	versions := uitest.Eval[[]string](t, ctx, `[...document.querySelectorAll('#versions tbody tr')].map(r => r.innerText)`)
	if len(versions) != 2 || !strings.Contains(versions[0], "Version 2") || !strings.Contains(versions[0], "@champion") || !strings.Contains(versions[0], runIDs[0]) {
		t.Fatalf("versions rows = %q, want version 2 @champion from run %s first", versions, runIDs[0])
	}
	if got := uitest.Eval[[]string](t, ctx, `[...document.querySelectorAll('.endpoint')].map(e => e.dataset.version + ' ' + e.innerText)`); len(got) != 1 || !strings.HasPrefix(got[0], "2 ") || !strings.Contains(got[0], "ready") {
		t.Errorf("model page endpoints %q, want version 2's, ready", got)
	}
	uitest.Screenshot(t, ctx, "model")
	uitest.Follow(t, ctx, `#versions a[href="#/models/ctr/versions/2"]`)
	ep := uitest.Eval[string](t, ctx, `document.querySelector('.endpoint').innerText`)
	for _, want := range []string{endpoint, "ready", "Requests\n1 (", "Errors\n0", "p50 ", "p99 "} {
		if !strings.Contains(ep, want) {
			t.Errorf("version endpoint section %q lacks %q", ep, want)
		}
	}
	if strings.Contains(ep, "not ready") {
		t.Errorf("version endpoint section %q: want ready", ep)
	}
	sig := uitest.Eval[string](t, ctx, `document.querySelector('#signature').innerText`)
	for _, want := range []string{"age", "numeric", "country", "categorical", "probability, width 1"} {
		if !strings.Contains(sig, want) {
			t.Errorf("signature %q lacks %q", sig, want)
		}
	}
	uitest.Screenshot(t, ctx, "model-version")
	// The source run link navigates to the run.
	uitest.Follow(t, ctx, `dl.facts a[href="#/runs/`+url.PathEscape(runIDs[0])+`"]`)
	if h1 := uitest.Eval[string](t, ctx, `document.querySelector('h1').innerText`); h1 != "run-00" {
		t.Errorf("source run page heading %q, want run-00", h1)
	}
	// A model without a description (as `mlenv models register` makes).
	env.Do(t, "POST", "registered-models/create", map[string]any{"name": "bare"}, nil)
	uitest.Navigate(t, ctx, env.URL, "#/models/bare")
	if got := uitest.Eval[string](t, ctx, `document.querySelector('main').innerText`); strings.Contains(got, "null") || strings.Contains(got, "undefined") {
		t.Errorf("model page without a description reads %q", got)
	}
}

// serveONNX serves serve/testdata's mlp.onnx as model name at version
// over the Open Inference Protocol, as mlenv serve does, answers one
// request, and returns the endpoint's base URL.
func serveONNX(t *testing.T, name, version string) string {
	t.Helper()
	m, err := serve.LoadONNX("../../serve/testdata/mlp.onnx", name, version)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	repo := serve.NewRepository(serve.NewMetrics(reg), nil)
	t.Cleanup(repo.Close)
	if err := repo.Load(m, serve.BatchConfig{MaxBatchSize: 1, QueueSize: 1, Instances: 1}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(serve.NewServer(repo, serve.Config{Gatherer: reg}).Handler())
	t.Cleanup(srv.Close)
	body := `{"inputs":[{"name":"features","datatype":"FP32","shape":[1,8],"data":[0,0,0,0,0,0,0,0]}]}`
	resp, err := http.Post(srv.URL+"/v2/models/"+name+"/infer", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("infer: %s", resp.Status)
	}
	return srv.URL
}

// The page of a running job's run (as mlenv jobs records it) shows the
// job's state and restarts and follows its logs as they are uploaded
// again, until the run ends.
func TestRunPageFollowsJobLogs(t *testing.T) {
	env := uitest.Start(t)
	ctx := context.Background()
	expID, err := env.Client.CreateExperiment(ctx, "mlenv-jobs")
	if err != nil {
		t.Fatal(err)
	}
	run, err := env.Client.CreateRun(ctx, store.RunCreate{ExperimentID: expID, RunName: "job",
		Tags: []store.Tag{{Key: "mlenv.job.state", Value: "running"}, {Key: "mlenv.job.restarts", Value: "0"}}})
	if err != nil {
		t.Fatal(err)
	}
	env.Upload(t, run.Info.ArtifactURI, "logs/job.log", []byte("[rank 0] step 1\n"))

	browser := uitest.Browser(t)
	uitest.Navigate(t, browser, env.URL, "#/runs/"+run.Info.RunID)
	if got := uitest.Eval[string](t, browser, `document.querySelector('#run-facts').innerText`); !strings.Contains(got, "Job state\nrunning") || !strings.Contains(got, "Restarts\n0") {
		t.Errorf("facts %q lack the job's state and restarts", got)
	}
	env.Upload(t, run.Info.ArtifactURI, "logs/job.log", []byte("[rank 0] step 1\n[mlenv] restart 1 of 3\n[rank 0] step 2\n"))
	if err := env.Client.LogBatch(ctx, store.Batch{RunID: run.Info.RunID, Tags: []store.Tag{{Key: "mlenv.job.restarts", Value: "1"}}}); err != nil {
		t.Fatal(err)
	}
	uitest.WaitFor(t, browser, `[...document.querySelectorAll('pre.log')].some(p => p.innerText.includes('step 2'))
		&& document.querySelector('#run-facts').innerText.includes('Restarts\n1')`, 15*time.Second) // the page refreshes every 5 s
	if n := uitest.Eval[int](t, browser, `document.querySelectorAll('pre.log').length`); n != 1 {
		t.Errorf("%d log views after the refresh, want 1", n)
	}
}

func TestUnknownRouteAndMissingRun(t *testing.T) {
	env := uitest.Start(t)
	ctx := uitest.Browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(env.URL+"/#/runs/nope")); err != nil {
		t.Fatal(err)
	}
	uitest.WaitFor(t, ctx, `document.body.dataset.state === 'error'`, 10*time.Second)
	if msg := uitest.Eval[string](t, ctx, `document.querySelector('[role=alert]').innerText`); !strings.Contains(msg, "nope") {
		t.Errorf("error message %q does not name the run", msg)
	}
}

func TestChartHelpers(t *testing.T) {
	env := uitest.Start(t)
	ctx := uitest.Browser(t)
	uitest.Navigate(t, ctx, env.URL, "")
	// Debiased smoothing keeps a constant series constant and lags a step.
	got := uitest.Eval[[]float64](t, ctx, `import('./static/chart.js').then(m => [...m.smooth([2, 2, 2], 0.9), ...m.smooth([0, 10], 0.5)])`)
	want := []float64{2, 2, 2, 0, 10 * 0.5 / (1 - 0.25)}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-9 {
			t.Fatalf("smooth = %v, want %v", got, want)
		}
	}
	ticks := uitest.Eval[[]float64](t, ctx, `import('./static/chart.js').then(m => m.niceTicks(0.013, 0.987, 5))`)
	if !slices.Equal(ticks, []float64{0.2, 0.4, 0.6, 0.8}) {
		t.Errorf("niceTicks(0.013, 0.987, 5) = %v, want 0.2 0.4 0.6 0.8", ticks)
	}
	// Categorical and numeric axes of the comparison plots.
	pos := uitest.Eval[[]float64](t, ctx, `import('./static/plots.js').then(m => {
		const c = m.axis('opt', ['sgd', 'adam', 'sgd']), n = m.axis('lr', ['0.1', '0.3', null]);
		return [c.pos('adam'), c.pos('sgd'), n.pos('0.1'), n.pos('0.2'), n.pos(null) === null ? -1 : 0];
	})`)
	for i, w := range []float64{0, 1, 0, 0.5, -1} {
		if math.Abs(pos[i]-w) > 1e-9 {
			t.Errorf("axis positions = %v, want [0 1 0 0.5 -1]", pos)
			break
		}
	}
}

// TestStudyPage logs a tuning study as `mlenv tune` records it (a study
// run, trials nested under it, a resumption run that is no trial) and
// checks the study's section, its compare link and the trial's link back.
func TestStudyPage(t *testing.T) {
	env := uitest.Start(t)
	ctx0 := context.Background()
	expID, err := env.Client.CreateExperiment(ctx0, "e2e-study")
	if err != nil {
		t.Fatal(err)
	}
	create := func(name string, tags ...store.Tag) string {
		run, err := env.Client.CreateRun(ctx0, store.RunCreate{ExperimentID: expID, RunName: name, StartTime: time.Now().UnixMilli(), Tags: tags})
		if err != nil {
			t.Fatal(err)
		}
		return run.Info.RunID
	}
	study := create("s1", store.Tag{Key: "mlenv.tune.study", Value: "s1"})
	logBatch := func(b store.Batch) {
		if err := env.Client.LogBatch(ctx0, b); err != nil {
			t.Fatal(err)
		}
	}
	logBatch(store.Batch{RunID: study,
		Params: []store.Param{{Key: "tune.metric", Value: "auc"}, {Key: "tune.maximize", Value: "true"},
			{Key: "tune.space", Value: `[{"name":"lr","kind":"float","low":0.001,"high":0.1,"log":true},{"name":"layers","kind":"int","low":1,"high":4}]`}},
		Tags: []store.Tag{{Key: "mlenv.tune.best_trial", Value: "1"}, {Key: "mlenv.tune.importance", Value: `[{"Param":"lr","Share":0.75},{"Param":"layers","Share":0.25}]`}}})
	var trials []string
	for i, auc := range []float64{0.7, 0.9, 0.8} {
		state := map[bool]string{true: "complete", false: "pruned"}[i != 2]
		id := create(fmt.Sprintf("s1-trial-%d", i), store.Tag{Key: "mlflow.parentRunId", Value: study}, store.Tag{Key: "mlenv.tune.study", Value: "s1"},
			store.Tag{Key: "mlenv.tune.trial", Value: fmt.Sprint(i)}, store.Tag{Key: "mlenv.tune.state", Value: state})
		logBatch(store.Batch{RunID: id, Params: []store.Param{{Key: "lr", Value: fmt.Sprint(0.01 * float64(i+1))}, {Key: "layers", Value: fmt.Sprint(i + 1)}},
			Metrics: []store.Metric{{Key: "auc", Value: store.Float(auc), Timestamp: time.Now().UnixMilli()}}})
		trials = append(trials, id)
	}
	create("s1-resume", store.Tag{Key: "mlflow.parentRunId", Value: study}, store.Tag{Key: "mlenv.tune.study", Value: "s1"})

	ctx := uitest.Browser(t)
	uitest.Navigate(t, ctx, env.URL, "#/runs/"+study)
	rows := uitest.Eval[[]string](t, ctx, `[...document.querySelectorAll('#trials tbody tr')].map(r => [...r.cells].map(c => c.innerText).join('|'))`)
	want := []string{"0|s1-trial-0|complete|0.7|0.01|1", "1 (best)|s1-trial-1|complete|0.9|0.02|2", "2|s1-trial-2|pruned|0.8|0.03|3"}
	if !slices.Equal(rows, want) {
		t.Fatalf("trials table rows = %q, want %q", rows, want)
	}
	if got := uitest.Eval[[]float64](t, ctx, `[...document.querySelectorAll('#importance meter')].map(m => m.value)`); !slices.Equal(got, []float64{0.75, 0.25}) {
		t.Errorf("importance meters = %v, want 0.75 and 0.25", got)
	}
	uitest.Screenshot(t, ctx, "study")
	// The compare link opens the trials best first.
	uitest.Follow(t, ctx, `#compare-trials`)
	if got := uitest.Eval[[]string](t, ctx, `[...document.querySelectorAll('#compare-table thead a')].map(a => a.innerText)`); !slices.Equal(got, []string{"s1-trial-1", "s1-trial-2", "s1-trial-0"}) {
		t.Errorf("compared runs = %v, want the trials best first", got)
	}
	if n := uitest.Eval[int](t, ctx, `document.querySelectorAll('svg.parallel polyline').length`); n != 3 {
		t.Errorf("parallel coordinates has %d lines, want 3 trials", n)
	}
	// A trial links back to its study's run.
	uitest.Navigate(t, ctx, env.URL, "#/runs/"+trials[0])
	uitest.Follow(t, ctx, `#parent-run`)
	if h1 := uitest.Eval[string](t, ctx, `document.querySelector('h1').innerText`); h1 != "s1" {
		t.Errorf("parent run page heading %q, want s1", h1)
	}
}
