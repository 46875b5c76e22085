package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlenv/mlenv/registry"
)

// Both forms of models register create a version from the run's logged
// model: the RUN_ID --name NAME and the older NAME --run RUN_ID.
func TestModelsRegisterForms(t *testing.T) {
	uri, runID := trackingServer(t)
	register := func(args ...string) registry.ModelVersion {
		t.Helper()
		args = append([]string{"models", "register"}, append(args, "--uri", uri, "--json")...)
		code, out, stderr := runCLI(t, args...)
		var v registry.ModelVersion
		if err := json.Unmarshal([]byte(out), &v); code != exitOK || err != nil {
			t.Fatalf("%v: code %d, out %q, stderr %q", args, code, out, stderr)
		}
		return v
	}
	source := "runs:/" + runID + "/model"
	v := register(runID, "--name", "ranker", "--alias", "prod")
	if v.Name != "ranker" || v.Version != "1" || v.Source != source || v.RunID != runID || len(v.Aliases) != 1 {
		t.Errorf("RUN_ID --name: %+v", v)
	}
	v = register("ranker", "--run", runID)
	if v.Name != "ranker" || v.Version != "2" || v.Source != source || v.RunID != runID {
		t.Errorf("NAME --run: %+v", v)
	}
	dir := t.TempDir()
	v = register("ranker", "--path", dir)
	if v.Version != "3" || v.Source != dir || v.RunID != "" {
		t.Errorf("NAME --path: %+v", v)
	}
}

func TestModelsRegisterBadForms(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"r1", "--name", "m", "--run", "r2"}, "give neither --run nor --path"},
		{[]string{"r1", "--name", "m", "--path", "."}, "give neither --run nor --path"},
		{[]string{"r1", "--name", ""}, "--name is empty"},
		{[]string{"m"}, "give exactly one of --run and --path"},
		{[]string{"--name", "m"}, "accepts 1 arg"},
	} {
		args := append([]string{"models", "register"}, tt.args...)
		if code, _, stderr := runCLI(t, args...); code != exitUsage || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: code %d, stderr %q; want a usage error with %q", tt.args, code, stderr, tt.want)
		}
	}
}

func TestRegisterSourcePath(t *testing.T) {
	model, run, source, err := registerSource("m", false, "", "", "rel")
	abs, _ := filepath.Abs("rel")
	if err != nil || model != "m" || run != "" || source != abs {
		t.Errorf("registerSource(--path rel) = %q, %q, %q, %v", model, run, source, err)
	}
}
