// Package uitest runs mlenv's tracking server with the web UI in process,
// and a headless Chromium driven through the DevTools protocol, for the
// UI's end-to-end tests and browser benchmarks. It is for tests only.
//
// Chromium is looked up on PATH (chromium, chromium-browser,
// google-chrome). When it is missing the test is skipped, unless the
// environment sets MLENV_TEST_CHROMIUM=required (as CI does), which makes
// it fail instead.
package uitest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/mlenv/mlenv/artifact"
	"github.com/mlenv/mlenv/server"
	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/store/storetest"
	"github.com/mlenv/mlenv/track"
)

// Env is a running server with the UI over a store and a fresh artifact
// directory, removed when the test ends.
type Env struct {
	URL    string // base URL, such as http://127.0.0.1:41234
	Client *track.Client
}

// Start starts the server over a fresh SQLite store for tb and stops it
// when tb ends.
func Start(tb testing.TB) *Env {
	tb.Helper()
	return StartOn(tb, storetest.SQLite(tb))
}

// StartOn starts the server over st for tb and stops it when tb ends,
// before st is closed (st must have been opened for tb, as storetest's
// stores are).
func StartOn(tb testing.TB, st *store.SQLStore) *Env {
	tb.Helper()
	log := slog.New(slog.DiscardHandler)
	files, err := artifact.Open(context.Background(), filepath.Join(tb.TempDir(), "artifacts"))
	if err != nil {
		tb.Fatalf("open artifact store: %v", err)
	}
	srv := httptest.NewServer(server.NewHandler(st, files, log))
	tb.Cleanup(srv.Close)
	c, err := track.NewClient(srv.URL, track.ClientOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	return &Env{URL: srv.URL, Client: c}
}

// Do calls an MLflow API endpoint (relative to /api/2.0/mlflow/), failing
// tb on error.
func (e *Env) Do(tb testing.TB, method, path string, req, resp any) {
	tb.Helper()
	if err := e.Client.Do(context.Background(), method, path, req, resp); err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
}

// Upload stores body as the artifact at path under a run's artifact URI
// (mlflow-artifacts:/...), through the server's artifact proxy.
func (e *Env) Upload(tb testing.TB, artifactURI, path string, body []byte) {
	tb.Helper()
	root, ok := strings.CutPrefix(artifactURI, track.ProxyScheme)
	if !ok {
		tb.Fatalf("artifact URI %q is not served by the proxy", artifactURI)
	}
	u := e.URL + "/api/2.0/mlflow-artifacts/artifacts/" + (&url.URL{Path: strings.Trim(root, "/") + "/" + path}).EscapedPath()
	req, err := http.NewRequest(http.MethodPut, u, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("upload %s: %v", path, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("upload %s: %s", path, resp.Status)
	}
}

// chromium returns the path of a Chromium binary, or "".
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Browser starts a headless Chromium with a fresh profile and returns a
// context for chromedp actions in one tab, at a 1400x900 window. The
// browser is stopped when tb ends, and tb fails then if a page threw an
// uncaught exception or logged an error other than a failed request (a
// script error, a Content-Security-Policy violation).
func Browser(tb testing.TB) context.Context {
	tb.Helper()
	bin := chromium()
	if bin == "" {
		if os.Getenv("MLENV_TEST_CHROMIUM") == "required" {
			tb.Fatal("chromium not found on PATH and MLENV_TEST_CHROMIUM=required: apt-get install -y chromium")
		}
		tb.Skip("chromium not found on PATH (apt-get install -y chromium); set MLENV_TEST_CHROMIUM=required to fail instead")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.WindowSize(1400, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	var (
		mu     sync.Mutex
		errs   []string
		record = func(format string, args ...any) {
			mu.Lock()
			errs = append(errs, fmt.Sprintf(format, args...))
			mu.Unlock()
		}
	)
	tb.Cleanup(func() {
		cancel()
		cancelAlloc()
		mu.Lock()
		defer mu.Unlock()
		for _, e := range errs {
			tb.Errorf("page error: %s", e)
		}
	})
	if err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			record("uncaught exception at %s:%d: %s", d.URL, d.LineNumber+1, msg)
		case *cdplog.EventEntryAdded:
			// Failed requests are logged by the network source; the pages
			// show those errors themselves, and some tests cause them.
			if e := ev.Entry; e.Level == cdplog.EntryLevelError && e.Source != cdplog.EntrySourceNetwork {
				record("%s error at %s:%d: %s", e.Source, e.URL, e.LineNumber+1, e.Text)
			}
		}
	}); err != nil {
		tb.Fatalf("start chromium %s: %v", bin, err)
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		tb.Fatalf("enable the browser log: %v", err)
	}
	return ctx
}

// Ready waits until the page at url (a fragment route of the UI) has
// rendered: the body's data-state is "ready". It fails tb with the page's
// error message on "error" and after timeout.
func Ready(tb testing.TB, ctx context.Context, timeout time.Duration) {
	tb.Helper()
	state, err := chromedp.Run(ctx, chromedp.Poll[string](`["ready", "error"].includes(document.body.dataset.state) && document.body.dataset.state`,
		chromedp.WithPollingInterval(10*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		tb.Fatalf("waiting for the page to render: %v", err)
	}
	if state != "ready" {
		tb.Fatalf("page failed: %s", Eval[string](tb, ctx, `document.querySelector('main').innerText`))
	}
}

// Navigate opens the UI at route (such as "#/models") and waits until
// it is ready.
func Navigate(tb testing.TB, ctx context.Context, base, route string) {
	tb.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"+route)); err != nil {
		tb.Fatalf("navigate to %s: %v", route, err)
	}
	Ready(tb, ctx, 30*time.Second)
}

// Follow clicks the element matched by the CSS selector sel, a link or
// button that opens another page of the UI, and waits until that page is
// ready.
func Follow(tb testing.TB, ctx context.Context, sel string) {
	tb.Helper()
	Eval[string](tb, ctx, `document.body.dataset.state = 'leaving'`)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		tb.Fatalf("click %s: %v", sel, err)
	}
	Ready(tb, ctx, 30*time.Second)
}

// Screenshot saves a full-page PNG named name.png in the directory named
// by MLENV_UI_SCREENSHOTS (default: mlenv-ui-screenshots in the system
// temporary directory) and returns its path.
func Screenshot(tb testing.TB, ctx context.Context, name string) string {
	tb.Helper()
	dir := os.Getenv("MLENV_UI_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "mlenv-ui-screenshots")
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		tb.Fatalf("save screenshot: %v", err)
	}
	tb.Logf("screenshot %s", p)
	return p
}

// Eval evaluates a JavaScript expression in the page, awaiting a
// promise, and decodes its value.
func Eval[T any](tb testing.TB, ctx context.Context, expr string) T {
	tb.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// WaitFor polls the JavaScript boolean expression expr until it is true,
// failing tb after timeout.
func WaitFor(tb testing.TB, ctx context.Context, expr string, timeout time.Duration) {
	tb.Helper()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(10*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		tb.Fatalf("waiting for %s: %v", expr, err)
	}
}

// LogMetric logs n points of metric key to a run in batches of 1000,
// value(i) at step i, one millisecond apart from start.
func (e *Env) LogMetric(tb testing.TB, runID, key string, n int, start int64, value func(i int) float64) {
	tb.Helper()
	for lo := 0; lo < n; lo += 1000 {
		b := store.Batch{RunID: runID}
		for i := lo; i < min(n, lo+1000); i++ {
			b.Metrics = append(b.Metrics, store.Metric{Key: key, Value: store.Float(value(i)), Timestamp: start + int64(i), Step: int64(i)})
		}
		if err := e.Client.LogBatch(context.Background(), b); err != nil {
			tb.Fatalf("log %s points %d-%d: %v", key, lo, lo+len(b.Metrics), err)
		}
	}
}

// String describes the environment for logs.
func (e *Env) String() string { return fmt.Sprintf("mlenv server with UI at %s", e.URL) }
