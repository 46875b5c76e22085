package explain

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/mlenv/mlenv/nn"
	"github.com/mlenv/mlenv/tensor"
)

// TestTorchCrossCheck compares attributions with integrated gradients
// computed by PyTorch 1.13 in float64 for the same weights
// (testdata/gen_torch_ig.py). Tolerance: 1e-5 relative to the largest
// attribution of the example plus 1e-6 absolute, which covers this
// float32 engine's rounding over 16 path points.
func TestTorchCrossCheck(t *testing.T) {
	f, err := os.Open("testdata/torch_ig.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vec, _, err := tensor.ReadSafetensors(f)
	if err != nil {
		t.Fatal(err)
	}
	m := newTabular(rand.New(rand.NewPCG(0, 0)), nn.Tanh, 4, 2, 10, 3, 16, 8)
	weights := map[string]*tensor.Tensor{}
	for name, v := range vec {
		if strings.HasPrefix(name, "mlp.") || strings.HasPrefix(name, "emb") {
			weights[name] = v
		}
	}
	if err := nn.LoadStateDict(m, weights); err != nil {
		t.Fatal(err)
	}
	points := func(prefix string) [][]float32 {
		dense, ids := vec[prefix+".dense"], vec[prefix+".ids"]
		var out [][]float32
		for i := range dense.Dim(0) {
			row := ids.Data()[i*2 : i*2+2]
			out = append(out, m.point(dense.Data()[i*4:(i+1)*4], []int{int(row[0]), int(row[1])}))
		}
		return out
	}
	xs, bs := points("input"), points("baseline")
	for _, method := range []Method{GaussLegendre, RiemannTrap} {
		res, err := Attribute(context.Background(), m.model(), xs, bs, Options{Steps: 16, Method: method, Tolerance: -1})
		if err != nil {
			t.Fatal(err)
		}
		want := vec["ig."+string(method)]
		nf := want.Dim(1)
		var worst float64
		for i, got := range res.Attributions {
			row := want.Data()[i*nf : (i+1)*nf]
			var scale float64
			for _, v := range row {
				scale = math.Max(scale, math.Abs(float64(v)))
			}
			for j, v := range row {
				worst = math.Max(worst, math.Abs(got[j]-float64(v))/scale)
				if d := math.Abs(got[j] - float64(v)); d > 1e-5*scale+1e-6 {
					t.Errorf("%s example %d feature %s: %g, PyTorch %g", method, i, res.Features[j], got[j], v)
				}
			}
			for _, c := range []struct {
				name      string
				got, want float64
			}{{"f(x)", res.Outputs[i], float64(vec["output.x"].Data()[i])}, {"f(b)", res.BaselineOutputs[i], float64(vec["output.baseline"].Data()[i])}} {
				if math.Abs(c.got-c.want) > 1e-5*(1+math.Abs(c.want)) {
					t.Errorf("example %d %s: %g, PyTorch %g", i, c.name, c.got, c.want)
				}
			}
		}
		t.Logf("%s: largest deviation from PyTorch %.2g of the example's largest attribution", method, worst)
	}
}
