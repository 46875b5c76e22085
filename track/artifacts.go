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

// ArtifactAPI serves artifacts/list, the artifact endpoints of MLflow 3's
// logged models and MLflow's artifact proxy,
// /api/2.0/mlflow-artifacts/artifacts/..., over an artifact store.
type ArtifactAPI struct {
	runs  store.Tracking
	files artifact.Store
}

// NewArtifactAPI returns the artifact endpoints; runs resolves the
// artifact URIs of runs and logged models.
func NewArtifactAPI(runs store.Tracking, files artifact.Store) *ArtifactAPI {
	return &ArtifactAPI{runs: runs, files: files}
}

// Register adds the artifact endpoints to m.
func (a *ArtifactAPI) Register(m *Mux) {
	m.Handle("GET", "artifacts/list", a.listRunArtifacts)
	m.Handle("GET", "logged-models/{model_id}/artifacts/directories", a.listModelArtifacts)
	for _, p := range Prefixes {
		m.mux.HandleFunc("GET "+p+"logged-models/{model_id}/artifacts/files", func(w http.ResponseWriter, r *http.Request) {
			a.downloadModelArtifact(m, w, r)
		})
	}
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
	return a.listUnder(r, "run "+id, run.Info.ArtifactURI, req.Path)
}

// listUnder lists the directory rel under rootURI, an artifact URI of
// owner (a run or logged model) served by the proxy, as MLflow's
// ListArtifacts response: paths relative to rootURI.
func (a *ArtifactAPI) listUnder(r *http.Request, owner, rootURI, rel string) (any, error) {
	root, err := proxyRoot(owner, rootURI)
	if err != nil {
		return nil, err
	}
	rel, err = artifact.CleanPath(rel)
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
	}{RootURI: rootURI}
	for _, f := range files {
		resp.Files = append(resp.Files, fileInfo{Path: strings.TrimPrefix(f.Path, root+"/"), IsDir: f.IsDir, FileSize: f.Size})
	}
	return resp, nil
}

// proxyRoot returns the artifact store path of an artifact URI served by
// this server's proxy, or an error naming owner for any other URI.
func proxyRoot(owner, uri string) (string, error) {
	root, ok := strings.CutPrefix(uri, ProxyScheme)
	if !ok {
		return "", store.Errorf(store.InvalidParameterValue, "%s stores artifacts at %s, which this server does not serve; read them there", owner, uri)
	}
	return strings.Trim(root, "/"), nil
}

// listModelArtifacts serves MLflow 3's ListLoggedModelArtifacts.
func (a *ArtifactAPI) listModelArtifacts(r *http.Request) (any, error) {
	var req struct {
		Path string `json:"artifact_directory_path"`
	}
	if err := Decode(r, &req); err != nil {
		return nil, err
	}
	id := r.PathValue("model_id")
	m, err := a.runs.GetLoggedModel(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return a.listUnder(r, "logged model "+id, m.ArtifactLocation, req.Path)
}

// downloadModelArtifact serves one file of a logged model, named by the
// artifact_file_path query parameter relative to the model's artifact
// location, as MLflow 3's server does for its UI.
func (a *ArtifactAPI) downloadModelArtifact(m *Mux, w http.ResponseWriter, r *http.Request) {
	p, err := a.modelArtifactPath(r)
	if err != nil {
		m.WriteError(w, err)
		return
	}
	a.send(m, w, r, p)
}

// modelArtifactPath returns the artifact store path of the file a
// logged-model download names.
func (a *ArtifactAPI) modelArtifactPath(r *http.Request) (string, error) {
	id, file := r.PathValue("model_id"), r.URL.Query().Get("artifact_file_path")
	if err := required("artifact_file_path", file); err != nil {
		return "", err
	}
	model, err := a.runs.GetLoggedModel(r.Context(), id)
	if err != nil {
		return "", err
	}
	root, err := proxyRoot("logged model "+id, model.ArtifactLocation)
	if err != nil {
		return "", err
	}
	rel, err := artifact.CleanPath(file)
	if err != nil {
		return "", artifactError(err)
	}
	return path.Join(root, rel), nil
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
	a.send(m, w, r, r.PathValue("path"))
}

// send writes the artifact at p in the artifact store.
func (a *ArtifactAPI) send(m *Mux, w http.ResponseWriter, r *http.Request, p string) {
	rc, err := a.files.Get(r.Context(), p)
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
