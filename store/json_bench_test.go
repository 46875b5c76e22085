package store_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/mlenv/mlenv/store"
)

// BenchmarkDecodeMetrics decodes the metrics of a 500-metric log-batch
// body as the server does.
func BenchmarkDecodeMetrics(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"run_id": "abc", "metrics": [`)
	for i := range 500 {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, `{"key": "m%d", "value": 0.%d, "timestamp": 1700000000000, "step": 12}`, i, 123456789+i)
	}
	sb.WriteString("]}")
	body := []byte(sb.String())
	b.SetBytes(int64(len(body)))
	for range b.N {
		var req struct {
			Metrics []store.Metric `json:"metrics"`
		}
		if err := json.Unmarshal(body, &req); err != nil || len(req.Metrics) != 500 {
			b.Fatal(err)
		}
	}
}
