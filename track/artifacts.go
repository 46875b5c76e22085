package track

import (
	"errors"
	"io"
	"net/http"
	"path"
	"strings"

	"github.com/mlenv/mlenv/artifact"
	"github.com/mlenv/mlenv/store"
)

// ProxyScheme is the URI scheme of artifacts served by the tracking
// server's own artifact proxy, as in MLflow.
const ProxyScheme = "mlflow-artifacts:"

// ArtifactAPI serves artifacts/list and MLflow's artifact proxy,
// /api/2.0/mlflow-artifacts/artifacts/..., over an artifact store.
type ArtifactAPI struct {
	runs  store.Tracking
	files artifact.Store
}

// NewArtifactAPI returns the artifact endpoints; runs resolves run
// artifact URIs for artifacts/list.
func NewArtifactAPI(runs store.Tracking, files artifact.Store) *ArtifactAPI {
	return &ArtifactAPI{runs: runs, files: files}
}

// Register adds the artifact endpoints to m.
func (a *ArtifactAPI) Register(m *Mux) {
	m.Handle("GET", "artifacts/list", a.listRunArtifacts)
	for _, p := range []string{"/api/2.0/mlflow-artifacts/artifacts", "/ajax-api/2.0/mlflow-artifacts/artifacts"} {
		m.mux.HandleFunc("GET "+p, m.adapt(a.listProxy))
		m.mux.HandleFunc("GET "+p+"/{path...}", func(w http.ResponseWriter, r *http.Request) { a.download(m, w, r) })
		m.mux.HandleFunc("PUT "+p+"/{path...}", m.adapt(a.upload))
		m.mux.HandleFunc("DELETE "+p+"/{path...}", m.adapt(a.delete))
	}
}

// artifactError maps artifact store errors to MLflow codes.
func artifactError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, artifact.ErrBadPath):
		return store.Errorf(store.InvalidParameterValue, "%v", err)
	case errors.Is(err, artifact.ErrNotExist):
		return store.Errorf(store.ResourceDoesNotExist, "%v", err)
	}
	return err
}

// fileInfo is MLflow's FileInfo message.
type fileInfo struct {
	Path     string `json:"path"`
	IsDir    bool   `json:"is_dir"`
	FileSize int64  `json:"file_size,omitempty"`
}

func (a *ArtifactAPI) listRunArtifacts(r *http.Request) (any, error) {
	var req struct {
		runIDReq
		Path      string `json:"path"`
		PageToken string `json:"page_token"`
	}
	if err := Decode(r, &req); err != nil {
		return nil, err
	}
	id, err := req.id()
	if err != nil {
		return nil, err
	}
	run, err := a.runs.GetRun(r.Context(), id)
	if err != nil {
		return nil, err
	}
	root, ok := strings.CutPrefix(run.Info.ArtifactURI, ProxyScheme)
	if !ok {
		return nil, store.Errorf(store.InvalidParameterValue, "run %s stores artifacts at %s, which this server does not serve; list them there", id, run.Info.ArtifactURI)
	}
	root = strings.Trim(root, "/")
	rel, err := artifact.CleanPath(req.Path)
	if err != nil {
		return nil, artifactError(err)
	}
	files, err := a.files.List(r.Context(), path.Join(root, rel))
	if err != nil {
		return nil, artifactError(err)
	}
	resp := struct {
		RootURI string     `json:"root_uri"`
		Files   []fileInfo `json:"files,omitempty"`
	}{RootURI: run.Info.ArtifactURI}
	for _, f := range files {
		resp.Files = append(resp.Files, fileInfo{Path: strings.TrimPrefix(f.Path, root+"/"), IsDir: f.IsDir, FileSize: f.Size})
	}
	return resp, nil
}

func (a *ArtifactAPI) listProxy(r *http.Request) (any, error) {
	dir, err := artifact.CleanPath(r.URL.Query().Get("path"))
	if err != nil {
		return nil, artifactError(err)
	}
	files, err := a.files.List(r.Context(), dir)
	if err != nil {
		return nil, artifactError(err)
	}
	resp := struct {
		Files []fileInfo `json:"files"`
	}{Files: []fileInfo{}}
	for _, f := range files {
		resp.Files = append(resp.Files, fileInfo{Path: path.Base(f.Path), IsDir: f.IsDir, FileSize: f.Size})
	}
	return resp, nil
}

func (a *ArtifactAPI) download(m *Mux, w http.ResponseWriter, r *http.Request) {
	rc, err := a.files.Get(r.Context(), r.PathValue("path"))
	if err != nil {
		m.WriteError(w, artifactError(err))
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	io.Copy(w, rc)
}

func (a *ArtifactAPI) upload(r *http.Request) (any, error) {
	return empty{}, artifactError(a.files.Put(r.Context(), r.PathValue("path"), r.Body))
}

func (a *ArtifactAPI) delete(r *http.Request) (any, error) {
	return empty{}, artifactError(a.files.Delete(r.Context(), r.PathValue("path")))
}
