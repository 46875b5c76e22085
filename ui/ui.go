// Package ui serves mlenv's web UI: a few static pages of plain HTML and
// small hand-written JavaScript, embedded into the binary, that read the
// MLflow REST API the server already speaks (/ajax-api/2.0/mlflow/...)
// from the browser, plus endpoints of its own: one downsamples long
// metric histories on the server so a million-point metric draws fast,
// one reports the health and traffic of the endpoint serving a model
// version (see EndpointTag).
//
// Mount Handler at "/" of the server's mux; the API routes registered
// there are more specific and keep precedence.
package ui

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"

	"github.com/mlenv/mlenv/track"
)

//go:embed static
var files embed.FS

// HistoryPath is the path of the downsampled metric history endpoint.
const HistoryPath = "/ui-api/metric-history"

// Store is what the UI reads besides the REST API the browser calls;
// *store.SQLStore implements it.
type Store interface {
	MetricHistory
	ModelVersions
}

// Handler returns the UI: the single-page app at "/" (the URL fragment
// picks the page, so every page is served by that one path), its assets
// under /static/, GET HistoryPath over st's metrics, which keeps up to
// CachePoints recently drawn points in memory, and GET EndpointPath,
// which reads the endpoint a model version's EndpointTag names. Other
// paths are 404. log receives internal errors; nil means
// slog.Default(). The handler is safe for concurrent use.
func Handler(st Store, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	root, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embedded tree always has static/
	}
	mux := http.NewServeMux()
	// api answers MLflow API paths that reach the UI (no API mounted in
	// front of it) with ENDPOINT_NOT_FOUND, and writes the UI's own errors
	// in MLflow's shape.
	api := track.NewMux(mux, log)
	tags := etags(root)
	assets := http.StripPrefix("/static/", http.FileServerFS(root))
	mux.Handle("GET /static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		revalidate(w, tags[strings.TrimPrefix(r.URL.Path, "/static/")])
		assets.ServeHTTP(w, r)
	}))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		revalidate(w, tags["index.html"])
		http.ServeFileFS(w, r, root, "index.html")
	})
	mux.Handle("GET "+HistoryPath, &historyHandler{metrics: st, api: api, log: log, cache: newSeriesCache(CachePoints), maxAge: CacheMaxAge})
	mux.Handle("GET "+EndpointPath, newEndpointHandler(st, api))
	return secure(mux)
}

// etags returns a strong ETag for every file of the embedded tree, from
// its content: embedded files have no modification time, so without one
// browsers would fetch every file again on each visit.
func etags(root fs.FS) map[string]string {
	tags := map[string]string{}
	err := fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(root, p)
		sum := sha256.Sum256(b)
		tags[p] = `"` + hex.EncodeToString(sum[:8]) + `"`
		return err
	})
	if err != nil {
		panic(err) // reading the embedded tree cannot fail
	}
	return tags
}

// revalidate makes browsers check a cached file with its ETag before
// using it; http.ServeContent answers a matching If-None-Match with 304.
func revalidate(w http.ResponseWriter, etag string) {
	if etag != "" {
		w.Header().Set("ETag", etag)
		w.Header().Set("Cache-Control", "no-cache")
	}
}

// secure sets headers that keep the pages to their own scripts and
// styles and out of other sites' frames.
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		hdr.Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}
