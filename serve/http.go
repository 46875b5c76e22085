package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mlenv/mlenv/buildinfo"
)

// headerContentLength is the binary tensor data extension's header: the
// length of the JSON part of a body that continues with binary data.
const headerContentLength = "Inference-Header-Content-Length"

// Handler returns the protocol's HTTP/JSON endpoints, plus GET /metrics when
// cfg.Gatherer is set:
//
//	GET  /v2                                        server metadata
//	GET  /v2/health/live, /v2/health/ready          200 if true, 400 if not
//	GET  /v2/models/{model}[/versions/{version}]    model metadata
//	GET  /v2/models/{model}[/versions/{version}]/ready
//	POST /v2/models/{model}[/versions/{version}]/infer
//
// Errors are JSON objects {"error": "..."} with the status of errorCodes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2", s.serverMetadata)
	mux.HandleFunc("GET /v2/health/live", probe(s.live))
	mux.HandleFunc("GET /v2/health/ready", probe(s.ready))
	for _, prefix := range []string{"/v2/models/{model}", "/v2/models/{model}/versions/{version}"} {
		mux.HandleFunc("GET "+prefix, s.modelMetadata)
		mux.HandleFunc("GET "+prefix+"/ready", s.modelReady)
		mux.HandleFunc("POST "+prefix+"/infer", s.infer)
	}
	if s.cfg.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{}))
	}
	return mux
}

// probe answers a health probe with 200 when ok() and 400 otherwise, with
// an empty body, as the protocol specifies.
func probe(ok func() bool) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if !ok() {
			w.WriteHeader(http.StatusBadRequest)
		}
	}
}

func (s *Server) serverMetadata(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"name": serverName, "version": buildinfo.Version, "extensions": extensions})
}

// jsonTensorMetadata is a TensorSpec in the metadata response.
type jsonTensorMetadata struct {
	Name     string   `json:"name"`
	Datatype Datatype `json:"datatype"`
	Shape    []int64  `json:"shape"`
}

func (s *Server) modelMetadata(w http.ResponseWriter, r *http.Request) {
	meta, versions, err := s.repo.Metadata(r.PathValue("model"), r.PathValue("version"))
	if err != nil {
		s.writeError(w, err)
		return
	}
	specs := func(ts []TensorSpec) []jsonTensorMetadata {
		out := make([]jsonTensorMetadata, len(ts))
		for i, t := range ts {
			out[i] = jsonTensorMetadata{Name: t.Name, Datatype: t.Datatype, Shape: append([]int64{}, t.Shape...)}
		}
		return out
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"name":     meta.Name,
		"versions": versions,
		"platform": meta.Platform,
		"inputs":   specs(meta.Inputs),
		"outputs":  specs(meta.Outputs),
	})
}

func (s *Server) modelReady(w http.ResponseWriter, r *http.Request) {
	name, ver := r.PathValue("model"), r.PathValue("version")
	if !s.repo.Ready(name, ver) {
		s.writeError(w, fmt.Errorf("%w: model %q version %q is not loaded", ErrModelNotFound, name, ver))
		return
	}
	if s.stopping.Load() {
		w.WriteHeader(http.StatusBadRequest)
	}
}

// infer answers an infer request. The request is admitted to the model
// before its body is read, so that a full queue turns it away at once.
func (s *Server) infer(w http.ResponseWriter, r *http.Request) {
	a, err := s.repo.admit(r.PathValue("model"), r.PathValue("version"))
	if err != nil {
		s.writeError(w, err)
		return
	}
	err = s.answer(w, r, a)
	a.done(err)
	if err != nil {
		s.writeError(w, err)
	}
}

// answer reads, runs and answers the request admitted as a; an error is
// returned before anything is written.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, a *admission) error {
	req, err := s.readInferRequest(w, r)
	if err != nil {
		return err
	}
	ctx, cancel, allBinary, err := req.options(r.Context())
	defer cancel()
	if err != nil {
		return err
	}
	res, err := a.infer(ctx, req.inputs)
	if err != nil {
		return err
	}
	outputs, err := req.selectOutputs(res.Outputs, allBinary)
	if err != nil {
		return err
	}
	body, headerLen, err := encodeInferResponse(res, req.id, outputs)
	if err != nil {
		return err
	}
	if headerLen >= 0 {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set(headerContentLength, strconv.Itoa(headerLen))
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	w.Write(body)
	return nil
}

// readInferRequest reads and decodes an infer request body, bounded by
// cfg.MaxRequestBytes.
func (s *Server) readInferRequest(w http.ResponseWriter, r *http.Request) (*inferRequest, error) {
	headerLen := int64(-1)
	if h := r.Header.Get(headerContentLength); h != "" {
		n, err := strconv.ParseInt(h, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%w: header %s: %q is not a byte count", ErrBadRequest, headerContentLength, h)
		}
		headerLen = n
	}
	body, err := readBody(http.MaxBytesReader(w, r.Body, s.cfg.MaxRequestBytes), r.ContentLength, s.cfg.MaxRequestBytes)
	if err != nil {
		if mbe, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, fmt.Errorf("%w: body exceeds %d bytes", ErrTooLarge, mbe.Limit)
		}
		return nil, fmt.Errorf("%w: reading body: %w", ErrBadRequest, err)
	}
	return decodeInferRequest(body, headerLen)
}

// readBody reads all of body. When the request's Content-Length size is
// known and within limit, the buffer is allocated once at that size rather
// than grown as io.ReadAll grows it.
func readBody(body io.Reader, size, limit int64) ([]byte, error) {
	if size < 0 || size > limit {
		return io.ReadAll(body)
	}
	buf := bytes.NewBuffer(make([]byte, 0, size+bytes.MinRead))
	_, err := buf.ReadFrom(body)
	return buf.Bytes(), err
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeError answers with err's status and {"error": message}, logging
// server-side failures.
func (s *Server) writeError(w http.ResponseWriter, err error) {
	status, _ := errorStatus(err)
	if status >= http.StatusInternalServerError {
		s.log.Warn("inference request failed", "protocol", "http", "status", status, "err", err)
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}
