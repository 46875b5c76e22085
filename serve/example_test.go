package serve_test

import (
	"context"
	"fmt"

	"github.com/mlenv/mlenv/serve"
)

// doubler returns twice its FP32 input, row by row.
type doubler struct{}

func (doubler) Metadata() serve.Metadata {
	return serve.Metadata{
		Name: "doubler", Version: "1", Platform: "go",
		Inputs:  []serve.TensorSpec{{Name: "x", Datatype: serve.FP32, Shape: []int64{-1, 2}}},
		Outputs: []serve.TensorSpec{{Name: "y", Datatype: serve.FP32, Shape: []int64{-1, 2}}},
	}
}

func (doubler) Infer(_ context.Context, in []serve.Tensor) ([]serve.Tensor, error) {
	x := in[0].Data.([]float32)
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = 2 * v
	}
	return []serve.Tensor{{Name: "y", Datatype: serve.FP32, Shape: in[0].Shape, Data: y}}, nil
}

func ExampleRepository_Infer() {
	repo := serve.NewRepository(nil, nil)
	defer repo.Close()
	if err := repo.Load(doubler{}, serve.BatchConfig{MaxBatchSize: 16}); err != nil {
		panic(err)
	}
	x := serve.Tensor{Name: "x", Datatype: serve.FP32, Shape: []int64{2, 2}, Data: []float32{1, 2, 3, 4}}
	res, err := repo.Infer(context.Background(), "doubler", "", []serve.Tensor{x})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Version, res.Outputs[0].Shape, res.Outputs[0].Data)

	_, err = repo.Infer(context.Background(), "doubler", "", []serve.Tensor{{Name: "x", Datatype: serve.FP32, Shape: []int64{1, 3}, Data: []float32{1, 2, 3}}})
	fmt.Println(err)
	// Output:
	// 1 [2 2] [2 4 6 8]
	// bad request: input "x": shape [1 3] does not match model shape [-1 2]
}
