package explain

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"
)

func sampleResult() *Result {
	return &Result{
		Features:        []string{"a", "b<&>", "c"},
		Attributions:    [][]float64{{1, -2, 0.5}, {-3, -2, 0.5}},
		Outputs:         []float64{1, 2},
		BaselineOutputs: []float64{0, 0},
		AbsErrors:       []float64{0.5, 6.5},
		Errors:          []float64{0.01, 0.03},
		Steps:           []int{20, 40},
	}
}

func TestImportance(t *testing.T) {
	got := Importance(sampleResult())
	want := []Rank{{"a", 2, -1}, {"b<&>", 2, -2}, {"c", 0.5, 0.5}}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("rank %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestReportOutputs(t *testing.T) {
	rep := NewReport(sampleResult(), Options{Steps: 20, Method: RiemannTrap}, "zeros", 1)
	if rep.MaxError != 0.03 || rep.MeanError != 0.02 || rep.Steps != 20 || rep.Examples != 2 || rep.Refined != 1 {
		t.Errorf("report %+v", rep)
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(table.String(), "\n")
	if !strings.Contains(lines[1], "1") || !strings.Contains(lines[1], " a ") || !strings.Contains(lines[3], "c") {
		t.Errorf("table:\n%s", table.String())
	}
	if !strings.Contains(table.String(), "20 steps (1 refined with more)") || !strings.Contains(table.String(), "mean 2%, max 3%") {
		t.Errorf("table lacks the completeness line:\n%s", table.String())
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || back.Ranking[1].Feature != "b<&>" || back.Method != RiemannTrap {
		t.Errorf("JSON round trip: %v %+v", err, back)
	}

	var svg bytes.Buffer
	if err := rep.WriteSVG(&svg, 2); err != nil {
		t.Fatal(err)
	}
	// Well-formed XML with one bar per drawn feature, names escaped.
	dec := xml.NewDecoder(bytes.NewReader(svg.Bytes()))
	rects, texts := 0, []string{}
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if el.Name.Local == "rect" {
				rects++
			}
		case xml.CharData:
			if s := strings.TrimSpace(string(el)); s != "" {
				texts = append(texts, s)
			}
		}
	}
	if rects != 3 { // background + 2 bars
		t.Errorf("%d rects, want 3:\n%s", rects, svg.String())
	}
	if !strings.Contains(strings.Join(texts, "|"), "|b<&>|") || strings.Contains(svg.String(), ">c<") {
		t.Errorf("labels %q", texts)
	}
}
