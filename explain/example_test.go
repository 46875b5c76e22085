package explain_test

import (
	"context"
	"fmt"

	"github.com/mlenv/mlenv/explain"
	"github.com/mlenv/mlenv/tensor"
)

// Explaining a function built with package tensor: f(x) = x0·x1 + 3·x2,
// whose integrated gradients from the zero baseline are x0·x1/2 for each of
// x0 and x1 and 3·x2 for x2.
func Example() {
	w := tensor.FromSlice([]float32{0, 0, 3}, 3, 1)
	m := explain.Model{
		Inputs: explain.Inputs{Dense: []string{"x0", "x1", "x2"}},
		Forward: func(dense *tensor.Tensor, _ []*tensor.Tensor) *tensor.Tensor {
			product := tensor.Mul(tensor.Slice(dense, 1, 0, 1), tensor.Slice(dense, 1, 1, 2))
			return tensor.Add(product, tensor.MatMul(dense, w))
		},
	}
	xs := [][]float32{{2, 3, 1}}
	zero := [][]float32{{0, 0, 0}}
	res, err := explain.Attribute(context.Background(), m, xs, zero, explain.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for f, name := range res.Features {
		fmt.Printf("%s %.4f\n", name, res.Attributions[0][f])
	}
	fmt.Printf("f(x) - f(0) = %.4f, completeness error below 1e-6: %v\n", res.Outputs[0]-res.BaselineOutputs[0], res.Errors[0] < 1e-6)
	// Output:
	// x0 3.0000
	// x1 3.0000
	// x2 3.0000
	// f(x) - f(0) = 9.0000, completeness error below 1e-6: true
}
