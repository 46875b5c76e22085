"""Export the ONNX test models of package serve and PyTorch's outputs for them.

Run from this directory with Debian's PyTorch: /usr/bin/python3 gen_onnx.py
It writes mlp.onnx (8 -> 16 ReLU -> 4 Softmax), logistic.onnx (8 -> 1
Sigmoid, as exported from a sklearn-style logistic regression) and
onnx_cases.json (inputs and PyTorch outputs). Batch is a dynamic axis.
"""
import json

import torch

torch.manual_seed(7)


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = torch.nn.Linear(8, 16)
        self.out = torch.nn.Linear(16, 4)

    def forward(self, x):
        h = torch.relu(self.hidden(x))
        return torch.softmax(self.out(h), dim=1)


class Logistic(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(8, 1))
        self.b = torch.nn.Parameter(torch.randn(1))

    def forward(self, x):
        # MatMul, Add, then Sigmoid; Flatten and Tanh add more ops to test.
        z = torch.flatten(x, 1) @ self.w + self.b
        return torch.sigmoid(z), torch.tanh(z)


def export(model, name, inputs, outputs):
    x = torch.randn(5, 8)
    torch.onnx.export(
        model, (x,), name + ".onnx", input_names=inputs, output_names=outputs,
        dynamic_axes={n: {0: "batch"} for n in inputs + outputs}, opset_version=13)
    with torch.no_grad():
        ys = model(x)
    if not isinstance(ys, tuple):
        ys = (ys,)
    return {
        "inputs": {inputs[0]: {"shape": list(x.shape), "data": x.flatten().tolist()}},
        "outputs": {n: {"shape": list(y.shape), "data": y.flatten().tolist()}
                    for n, y in zip(outputs, ys)},
    }


cases = {
    "mlp": export(MLP().eval(), "mlp", ["features"], ["probabilities"]),
    "logistic": export(Logistic().eval(), "logistic", ["x"], ["probability", "score"]),
}
with open("onnx_cases.json", "w") as f:
    json.dump(cases, f, indent=1)
