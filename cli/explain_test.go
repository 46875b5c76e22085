package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mlenv/mlenv/explain"
	"github.com/mlenv/mlenv/modelfile"
	"github.com/mlenv/mlenv/store"
)

// TestExplainTrainedModel trains the demo's model, explains it from its
// artifact directory and from its tracked run, and checks the ranking,
// the completeness check, the chart and the logged run artifacts.
func TestExplainTrainedModel(t *testing.T) {
	spec := exampleSpec(t, "ctr-mlp.yaml")
	dir := inCTRDir(t)
	code, out, stderr := runCLI(t, "train", spec)
	if code != exitOK {
		t.Fatalf("train: code %d, stderr %q", code, stderr)
	}
	m := regexp.MustCompile(`tracking: run (\S+) in`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no run id in train output:\n%s", out)
	}
	runID := m[1]

	code, out, stderr = runCLI(t, "explain", "--model", "mlenv-models/ctr-mlp", "--data", "mlenv-data/ctr-valid.parquet",
		"--examples", "100", "--json", "--svg", "importance.svg")
	if code != exitOK {
		t.Fatalf("explain --model: code %d, stderr %q", code, stderr)
	}
	var rep explain.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("JSON output: %v\n%s", err, out)
	}
	model, err := modelfile.Load(filepath.Join("mlenv-models", "ctr-mlp"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Ranking) != len(model.Meta.Transforms.Features) || rep.Examples != 100 || rep.Method != explain.GaussLegendre || rep.Steps != 50 {
		t.Errorf("report %+v", rep)
	}
	if rep.MaxError > 0.01 {
		t.Errorf("completeness max error %g > 1%%", rep.MaxError)
	}
	for i := 1; i < len(rep.Ranking); i++ {
		if rep.Ranking[i].MeanAbs > rep.Ranking[i-1].MeanAbs {
			t.Fatalf("ranking not sorted at %d: %+v", i, rep.Ranking)
		}
	}
	if svg, err := os.ReadFile("importance.svg"); err != nil || !strings.Contains(string(svg), ">"+rep.Ranking[0].Feature+"<") {
		t.Errorf("importance.svg: %v", err)
	}

	code, out, stderr = runCLI(t, "explain", "--run", runID, "--data", "mlenv-data/ctr-valid.parquet",
		"--examples", "40", "--baseline", "sample", "--baselines", "4", "--method", "riemann")
	if code != exitOK {
		t.Fatalf("explain --run: code %d, stderr %q", code, stderr)
	}
	if !strings.Contains(out, "rank") || !strings.Contains(out, "baseline sample of 4 rows (IG averaged)") {
		t.Errorf("table output:\n%s", out)
	}
	for _, name := range []string{"explain.json", "importance.svg"} {
		if got, _ := filepath.Glob(filepath.Join(dir, ".mlenv", "artifacts", "*", runID, "artifacts", "explain", name)); len(got) != 1 {
			t.Errorf("run artifact explain/%s not logged", name)
		}
	}
	st, err := store.Open(context.Background(), "sqlite:///"+filepath.Join(dir, ".mlenv", "mlenv.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	run, err := st.GetRun(context.Background(), runID)
	if err != nil {
		t.Fatal(err)
	}
	var logged []string
	for _, m := range run.Metrics {
		if strings.HasPrefix(m.Key, "explain.") {
			logged = append(logged, m.Key)
		}
	}
	if slices.Sort(logged); !slices.Equal(logged, []string{"explain.completeness_max_error", "explain.completeness_mean_error"}) {
		t.Errorf("run metrics %v", logged)
	}

	// The registry alias of a version from the run's artifact.
	ctx := context.Background()
	if _, err := st.CreateRegisteredModel(ctx, "ctr", "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateModelVersion(ctx, store.ModelVersionCreate{Name: "ctr", Source: "runs:/" + runID + "/model", RunID: runID}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetRegisteredModelAlias(ctx, "ctr", "champion", "1"); err != nil {
		t.Fatal(err)
	}
	code, out, stderr = runCLI(t, "explain", "--model", "ctr@champion", "--data", "mlenv-data/ctr-valid.parquet", "--examples", "10", "--no-log")
	if code != exitOK || !strings.Contains(out, "model ctr-mlp (mlp)") {
		t.Errorf("explain --model ctr@champion: code %d, stderr %q, output:\n%s", code, stderr, out)
	}
	code, _, stderr = runCLI(t, "explain", "--model", "ctr@nobody", "--data", "mlenv-data/ctr-valid.parquet")
	if code != exitError || !strings.Contains(stderr, "ctr@nobody") {
		t.Errorf("unknown alias: code %d, stderr %q", code, stderr)
	}
}

func TestExplainUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--data", "x.csv"}, "exactly one of --model and --run"},
		{[]string{"--model", "m", "--run", "r", "--data", "x.csv"}, "exactly one of --model and --run"},
		{[]string{"--model", "m"}, "--data"},
		{[]string{"--model", "m", "--data", "x.csv", "--method", "simpson"}, `--method: explain: unknown method "simpson"`},
		{[]string{"--model", "m", "--data", "x.csv", "--baseline", "median"}, `--baseline: explain: unknown baseline "median"`},
		{[]string{"--model", "m", "--data", "x.csv", "--method", "riemann", "--steps", "1"}, "--steps: explain: 1 steps is too few"},
		{[]string{"--model", "m", "--data", "x.csv", "--examples", "0"}, "--examples 0"},
	} {
		code, _, stderr := runCLI(t, append([]string{"explain"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("explain %v: code %d, stderr %q, want usage error with %q", tc.args, code, stderr, tc.want)
		}
	}
	code, _, stderr := runCLI(t, "explain", "--model", t.TempDir(), "--data", "x.csv")
	if code != exitError || !strings.Contains(stderr, "model.json") {
		t.Errorf("missing artifact: code %d, stderr %q", code, stderr)
	}
}
