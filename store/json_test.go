package store

import (
	"encoding/json"
	"math"
	"testing"
)

func TestMetricJSON(t *testing.T) {
	tests := []struct {
		in   string
		want Metric
		fast bool // parsed without encoding/json
	}{
		{`{"key": "auc", "value": 0.91, "timestamp": 1700000000500, "step": 3}`, Metric{Key: "auc", Value: 0.91, Timestamp: 1700000000500, Step: 3}, true},
		{`{"key":"a b","value":"1e-3","timestamp":"12","step":"-4"}`, Metric{Key: "a b", Value: 0.001, Timestamp: 12, Step: -4}, true},
		{`{"run_id": "r", "key": "x", "value": 2, "timestamp": 1, "step": 0, "model_id": null, "dataset_name": "d", "flag": true}`,
			Metric{Key: "x", Value: 2, Timestamp: 1, DatasetName: "d"}, true},
		{`{"key": "acc", "value": 0.9, "timestamp": 5, "step": 2, "model_id": "m-1", "dataset_digest": "ab12"}`,
			Metric{Key: "acc", Value: 0.9, Timestamp: 5, Step: 2, ModelID: "m-1", DatasetDigest: "ab12"}, true},
		{`{"key": "acc", "value": 0.9, "model_id": "m-\u0031"}`, Metric{Key: "acc", Value: 0.9, ModelID: "m-1"}, false},
		{` { "value" : 5 , "key" : "k" } `, Metric{Key: "k", Value: 5, Timestamp: 0, Step: 0}, true},
		{`{"key": "q\"uote", "value": 1, "timestamp": 1, "step": 1}`, Metric{Key: `q"uote`, Value: 1, Timestamp: 1, Step: 1}, false},
		{`{"key": "n", "value": 1, "timestamp": 1e3, "step": 1, "extra": {"nested": [1]}}`, Metric{Key: "n", Value: 1, Timestamp: 1000, Step: 1}, false},
		{`{}`, Metric{}, true},
	}
	for _, tt := range tests {
		_, fast := parseFlatMetric([]byte(tt.in))
		var got Metric
		if err := json.Unmarshal([]byte(tt.in), &got); err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		if got != tt.want || fast != tt.fast {
			t.Errorf("%s: got %+v (fast %v), want %+v (fast %v)", tt.in, got, fast, tt.want, tt.fast)
		}
	}
	var m Metric
	if err := json.Unmarshal([]byte(`{"key": "nan", "value": "NaN", "timestamp": 1, "step": 1}`), &m); err != nil || !math.IsNaN(float64(m.Value)) {
		t.Errorf("NaN metric: %+v %v", m, err)
	}
	for _, bad := range []string{`{"key": "k", "value": "high"}`, `{"key": "k", "value": 1, "step": 1.5}`, `{"key": "k", "timestamp": "soon"}`, `{"key": 3}`} {
		if err := json.Unmarshal([]byte(bad), &m); err == nil {
			t.Errorf("%s: want an error", bad)
		}
	}
	out, _ := json.Marshal([]Metric{{Key: "k", Value: Float(math.Inf(-1)), Timestamp: 1, Step: 2}, {Key: "k", Value: 0.5, Timestamp: 1, Step: 2}})
	if string(out) != `[{"key":"k","value":"-Infinity","timestamp":1,"step":2},{"key":"k","value":0.5,"timestamp":1,"step":2}]` {
		t.Errorf("marshal = %s", out)
	}
}
