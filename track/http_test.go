package track

import (
	"encoding/json"
	"math"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/mlenv/mlenv/store"
)

// TestHTTPStatus checks the table against mlflow/exceptions.py's
// ERROR_CODE_TO_HTTP_STATUS.
func TestHTTPStatus(t *testing.T) {
	want := map[store.Code]int{
		"INTERNAL_ERROR": 500, "INVALID_STATE": 500, "NOT_IMPLEMENTED": 501, "TEMPORARILY_UNAVAILABLE": 503,
		"REQUEST_LIMIT_EXCEEDED": 429, "ENDPOINT_NOT_FOUND": 404, "RESOURCE_DOES_NOT_EXIST": 404,
		"BAD_REQUEST": 400, "RESOURCE_ALREADY_EXISTS": 400, "INVALID_PARAMETER_VALUE": 400, "SOMETHING_NEW": 500,
	}
	for code, status := range want {
		if got := HTTPStatus(code); got != status {
			t.Errorf("HTTPStatus(%s) = %d, want %d", code, got, status)
		}
	}
}

func TestDecodeQuery(t *testing.T) {
	var req struct {
		runIDReq
		IDs   []string   `json:"run_ids"`
		Max   store.Int  `json:"max_results"`
		Start *int64     `json:"start_step"`
		Flag  bool       `json:"flag"`
		End   *store.Int `json:"end"`
	}
	q, _ := url.ParseQuery("run_id=r1&run_ids=a&run_ids=b&max_results=7&start_step=3&flag=true")
	if err := decodeQuery(q, reflect.ValueOf(&req).Elem()); err != nil {
		t.Fatal(err)
	}
	if req.RunID != "r1" || len(req.IDs) != 2 || req.Max != 7 || *req.Start != 3 || !req.Flag || req.End != nil {
		t.Fatalf("decoded %+v", req)
	}
	q, _ = url.ParseQuery("max_results=many")
	if err := decodeQuery(q, reflect.ValueOf(&req).Elem()); store.CodeOf(err) != store.InvalidParameterValue {
		t.Fatalf("bad integer: %v", err)
	}
}

// TestHistoryJSON checks the hand-written get-history encoding against
// encoding/json's.
func TestHistoryJSON(t *testing.T) {
	ms := []store.Metric{{Key: `va"l`, Value: store.Float(math.NaN()), Timestamp: 5, Step: -1}, {Key: `va"l`, Value: 0.25, Timestamp: 1 << 40, Step: 2}}
	for _, tc := range []struct {
		ms    []store.Metric
		token string
	}{{ms, ""}, {ms, "tok"}, {nil, "tok"}, {nil, ""}} {
		want, _ := json.Marshal(struct {
			Metrics       []store.Metric `json:"metrics,omitempty"`
			NextPageToken string         `json:"next_page_token,omitempty"`
		}{tc.ms, tc.token})
		if got := strings.TrimSpace(string(historyJSON(tc.ms, tc.token))); got != string(want) {
			t.Errorf("historyJSON = %s, want %s", got, want)
		}
	}
}
