package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestBenchEngine(t *testing.T) {
	code, out, errOut := runCLI(t, "bench", "engine", "--model", "gemm", "--seconds", "0.05", "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res struct {
		Model  string             `json:"model"`
		GFLOPS map[string]float64 `json:"gflops"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	if res.Model != "gemm" || res.GFLOPS["512"] <= 0 || res.GFLOPS["2048"] <= 0 {
		t.Errorf("result %+v", res)
	}
	for _, args := range [][]string{
		{"--model", "vgg"}, {"--threads", "0"}, {"--batch", "-1"}, {"--seconds", "0"},
	} {
		code, _, errOut := runCLI(t, append([]string{"bench", "engine"}, args...)...)
		if code != exitUsage || !strings.Contains(errOut, args[0]) {
			t.Errorf("bench engine %v: exit %d, stderr %q; want usage error naming %s", args, code, errOut, args[0])
		}
	}
}
