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
		{`{"key": "auc", "value": 0.91, "timestamp": 1700000000500, "step": 3}`, Metric{"auc", 0.91, 1700000000500, 3}, true},
		{`{"key":"a b","value":"1e-3","timestamp":"12","step":"-4"}`, Metric{"a b", 0.001, 12, -4}, true},
		{`{"run_id": "r", "key": "x", "value": 2, "timestamp": 1, "step": 0, "model_id": null, "dataset_name": "d", "flag": true}`, Metric{"x", 2, 1, 0}, true},
		{` { "value" : 5 , "key" : "k" } `, Metric{"k", 5, 0, 0}, true},
		{`{"key": "q\"uote", "value": 1, "timestamp": 1, "step": 1}`, Metric{`q"uote`, 1, 1, 1}, false},
		{`{"key": "n", "value": 1, "timestamp": 1e3, "step": 1, "extra": {"nested": [1]}}`, Metric{"n", 1, 1000, 1}, false},
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
	out, _ := json.Marshal([]Metric{{"k", Float(math.Inf(-1)), 1, 2}, {"k", 0.5, 1, 2}})
	if string(out) != `[{"key":"k","value":"-Infinity","timestamp":1,"step":2},{"key":"k","value":0.5,"timestamp":1,"step":2}]` {
		t.Errorf("marshal = %s", out)
	}
}
