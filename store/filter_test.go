package store

import (
	"reflect"
	"testing"
)

func TestParseFilter(t *testing.T) {
	tests := []struct {
		in   string
		want []clause
	}{
		{"", nil},
		{"metrics.auc > 0.8 and params.lr = '0.01'", []clause{
			{entity: "metric", key: "auc", op: ">", values: []string{"0.8"}},
			{entity: "param", key: "lr", op: "=", values: []string{"0.01"}, quoted: true}}},
		{"metrics.`val loss` <= -1e-3", []clause{{entity: "metric", key: "val loss", op: "<=", values: []string{"-1e-3"}}}},
		{`tags."mlflow.user" ILIKE "%ana%"`, []clause{{entity: "tag", key: "mlflow.user", op: "ILIKE", values: []string{"%ana%"}, quoted: true}}},
		{"tags.mlflow.parentRunId IS NULL", []clause{{entity: "tag", key: "mlflow.parentRunId", op: "IS NULL"}}},
		{"tags.x is not null AND attributes.status != 'FAILED'", []clause{
			{entity: "tag", key: "x", op: "IS NOT NULL"},
			{entity: "attribute", key: "status", op: "!=", values: []string{"FAILED"}, quoted: true}}},
		{"attr.run_id NOT IN ('a', 'b')", []clause{{entity: "attribute", key: "run_id", op: "NOT IN", values: []string{"a", "b"}, quoted: true}}},
		{"name <> 'x'", []clause{{entity: "attribute", key: "name", op: "!=", values: []string{"x"}, quoted: true}}},
		{"datasets.digest LIKE 'ab%'", []clause{{entity: "dataset", key: "digest", op: "LIKE", values: []string{"ab%"}, quoted: true}}},
	}
	for _, tt := range tests {
		got, err := parseFilter(tt.in)
		if err != nil {
			t.Errorf("parseFilter(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseFilter(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseFilterErrors(t *testing.T) {
	for _, in := range []string{
		"metrics.auc > 0.8 or params.lr = '1'",
		"metrics.auc >",
		"metrics.auc 0.8",
		"foo.auc > 1",
		"params.lr = 'open",
		"params.lr = bare",
		"tags.x IN ('a'",
		"tags.x IS 'a'",
		"metrics.a ! 1",
	} {
		if _, err := parseFilter(in); CodeOf(err) != InvalidParameterValue {
			t.Errorf("parseFilter(%q) = %v, want INVALID_PARAMETER_VALUE", in, err)
		}
	}
}

func TestParseOrderBy(t *testing.T) {
	got, err := parseOrderBy([]string{"metrics.auc DESC", "params.`learning rate`", "start_time asc"})
	want := []orderTerm{{"metric", "auc", true}, {"param", "learning rate", false}, {"attribute", "start_time", false}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("parseOrderBy = %+v, %v", got, err)
	}
	if _, err := parseOrderBy([]string{"metrics.auc DESC extra"}); err == nil {
		t.Fatal("trailing words must be rejected")
	}
}

func TestSampleSteps(t *testing.T) {
	steps := []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if got := sampleSteps(steps, 3); !reflect.DeepEqual(got, []int64{0, 5, 10}) {
		t.Fatalf("sampleSteps = %v", got)
	}
	if got := sampleSteps(steps[:2], 5); len(got) != 2 {
		t.Fatalf("fewer steps than asked: %v", got)
	}
}
