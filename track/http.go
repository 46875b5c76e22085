package track

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/mlenv/mlenv/store"
)

// Prefixes under which the MLflow REST API is served: the public API and
// the one MLflow's web UI calls.
var Prefixes = []string{"/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/"}

// maxBody bounds any request body the API reads.
const maxBody = 64 << 20

// statusOf is MLflow's table from error code to HTTP status
// (mlflow/exceptions.py); codes not listed are 500.
var statusOf = map[store.Code]int{
	store.InternalError:          http.StatusInternalServerError,
	store.InvalidState:           http.StatusInternalServerError,
	store.NotImplemented:         http.StatusNotImplemented,
	store.TemporarilyUnavailable: http.StatusServiceUnavailable,
	store.RequestLimitExceeded:   http.StatusTooManyRequests,
	store.EndpointNotFound:       http.StatusNotFound,
	store.ResourceDoesNotExist:   http.StatusNotFound,
	store.BadRequest:             http.StatusBadRequest,
	store.ResourceAlreadyExists:  http.StatusBadRequest,
	store.InvalidParameterValue:  http.StatusBadRequest,
}

// HTTPStatus returns the HTTP status MLflow uses for an error code.
func HTTPStatus(c store.Code) int {
	if s, ok := statusOf[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Handler is an API endpoint: it returns the response message, which is
// written as JSON, or an error, written as MLflow's error body.
type Handler func(r *http.Request) (any, error)

// rawJSON is a response a handler has encoded itself, written as it is.
type rawJSON []byte

// Mux registers API endpoints under every prefix in Prefixes.
type Mux struct {
	mux *http.ServeMux
	log *slog.Logger
}

// NewMux returns a Mux adding routes to mux; log receives internal errors.
func NewMux(mux *http.ServeMux, log *slog.Logger) *Mux {
	if log == nil {
		log = slog.Default()
	}
	m := &Mux{mux: mux, log: log}
	for _, p := range Prefixes {
		mux.Handle(p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			m.WriteError(w, store.Errorf(store.EndpointNotFound, "no API endpoint %s %s", r.Method, r.URL.Path))
		}))
	}
	return m
}

// Handle routes method and path (relative to the prefixes, such as
// "runs/create") to h.
func (m *Mux) Handle(method, path string, h Handler) {
	serve := m.adapt(h)
	for _, p := range Prefixes {
		m.mux.HandleFunc(method+" "+p+path, serve)
	}
}

// adapt turns h into an http.HandlerFunc writing JSON or MLflow errors.
func (m *Mux) adapt(h Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		resp, err := h(r)
		if err != nil {
			m.WriteError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if raw, ok := resp.(rawJSON); ok {
			w.Write(raw)
			return
		}
		if err := json.NewEncoder(w).Encode(resp); err != nil {
			m.log.Warn("write response", "path", r.URL.Path, "err", err)
		}
	}
}

// WriteError writes err as {"error_code", "message"} with MLflow's status.
// Internal errors are logged and their text is still returned, as MLflow
// does.
func (m *Mux) WriteError(w http.ResponseWriter, err error) {
	code := store.CodeOf(err)
	status := HTTPStatus(code)
	if status >= 500 && !errors.Is(err, context.Canceled) { // a client that gave up is no server fault
		m.log.Error("request failed", "code", code, "err", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(struct {
		ErrorCode store.Code `json:"error_code"`
		Message   string     `json:"message"`
	}{code, err.Error()})
}

// Decode reads a request message into v: the JSON body for POST, PATCH
// and DELETE, the query string for GET (repeated parameters fill
// slices). Unknown fields are ignored, as newer clients send more.
func Decode(r *http.Request, v any) error {
	if r.Method == http.MethodGet {
		return decodeQuery(r.URL.Query(), reflect.ValueOf(v).Elem())
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	if r.Method == http.MethodDelete && len(body) == 0 {
		return decodeQuery(r.URL.Query(), reflect.ValueOf(v).Elem())
	}
	return unmarshal(body, v)
}

func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		return nil, store.Errorf(store.InvalidParameterValue, "read request body: %v", err)
	}
	return body, nil
}

// unmarshal decodes a JSON request body; an empty body is an empty
// message.
func unmarshal(body []byte, v any) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return store.Errorf(store.InvalidParameterValue, "malformed JSON request body: %v", err)
	}
	return nil
}

// decodeQuery fills the fields of the struct *v from query parameters
// named by their json tags.
func decodeQuery(q map[string][]string, rv reflect.Value) error {
	rt := rv.Type()
	for i := range rt.NumField() {
		if rt.Field(i).Anonymous && rt.Field(i).Type.Kind() == reflect.Struct {
			if err := decodeQuery(q, rv.Field(i)); err != nil {
				return err
			}
			continue
		}
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		vals, ok := q[name]
		if !ok || len(vals) == 0 || name == "" {
			continue
		}
		if err := setField(rv.Field(i), vals); err != nil {
			return store.Errorf(store.InvalidParameterValue, "invalid value %q for parameter %s: %v", vals[0], name, err)
		}
	}
	return nil
}

func setField(f reflect.Value, vals []string) error {
	switch f.Kind() {
	case reflect.String:
		f.SetString(vals[0])
	case reflect.Slice:
		if f.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("unsupported list type %s", f.Type())
		}
		f.Set(reflect.ValueOf(append([]string(nil), vals...)))
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(vals[0], 10, 64)
		if err != nil {
			return errors.New("want an integer")
		}
		f.SetInt(n)
	case reflect.Bool:
		b, err := strconv.ParseBool(vals[0])
		if err != nil {
			return errors.New("want true or false")
		}
		f.SetBool(b)
	case reflect.Pointer:
		p := reflect.New(f.Type().Elem())
		if err := setField(p.Elem(), vals); err != nil {
			return err
		}
		f.Set(p)
	default:
		return fmt.Errorf("unsupported type %s", f.Type())
	}
	return nil
}

// required fails with INVALID_PARAMETER_VALUE naming the first of the
// given (name, value) pairs whose value is empty.
func required(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			return store.Errorf(store.InvalidParameterValue, "missing value for required parameter '%s'", pairs[i])
		}
	}
	return nil
}
