"""Writes torch_ig.safetensors: integrated-gradients test vectors from
PyTorch 1.13 for explain's cross-check (torch_test.go).

Run from the repository root after `apt-get install -y python3-torch`:

    /usr/bin/python3 explain/testdata/gen_torch_ig.py

The model is explain_test.go's tabular model: 4 dense features and two
categorical features embedded with tables [10, 3], concatenated into an
MLP 10 -> 16 -> 8 -> 1 with tanh. Integrated gradients run along the
straight path in (dense, embedding) space from a baseline point, with
Gauss-Legendre nodes from numpy (an implementation independent of
explain's) and with the trapezoid rule, computed with torch.autograd.grad
in float64 so the vectors are exact to float32 precision.
"""
import json
import struct

import numpy as np
import torch
import torch.nn as tnn

torch.manual_seed(7)
N, DENSE, CARD, DIM = 16, 4, 10, 3
STEPS = 16


class MLP(tnn.Module):
    def __init__(self, sizes):
        super().__init__()
        self.layers = tnn.ModuleList(tnn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i + 1 < len(self.layers):
                x = torch.tanh(x)
        return x


class Tabular(tnn.Module):
    def __init__(self):
        super().__init__()
        self.mlp = MLP([DENSE + 2 * DIM, 16, 8, 1])
        self.emb0 = tnn.Embedding(CARD, DIM)
        self.emb1 = tnn.Embedding(CARD, DIM)

    def point(self, dense, ids):
        return torch.cat([dense, self.emb0(ids[:, 0]), self.emb1(ids[:, 1])], 1)


def nodes(method, steps):
    if method == "gausslegendre":
        x, w = np.polynomial.legendre.leggauss(steps)
        return (x + 1) / 2, w / 2
    a = np.linspace(0, 1, steps)
    w = np.full(steps, 1 / (steps - 1))
    w[0] /= 2
    w[-1] /= 2
    return a, w


def integrated_gradients(mlp, x, b, method):
    """x, b: [n, width] points; returns [n, features] attributions."""
    alphas, weights = nodes(method, STEPS)
    total = torch.zeros_like(x)
    for a, w in zip(alphas, weights):
        p = (b + float(a) * (x - b)).requires_grad_(True)
        (g,) = torch.autograd.grad(mlp(p).sum(), p)
        total += float(w) * g
    cols = (x - b) * total
    return torch.cat([cols[:, :DENSE], cols[:, DENSE:DENSE + DIM].sum(1, keepdim=True),
                      cols[:, DENSE + DIM:].sum(1, keepdim=True)], 1)


def save(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        data = tensors[name].detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for blob in blobs:
            f.write(blob)


def main():
    model = Tabular()
    with torch.no_grad():
        model.emb0.weight.mul_(0.5)
        model.emb1.weight.mul_(0.5)
        # Larger first-layer weights make the path curved, so the rules differ.
        model.mlp.layers[0].weight.mul_(4)
    dense = torch.randn(N, DENSE)
    ids = torch.randint(0, CARD, (N, 2))
    ref_dense, ref_ids = torch.randn(1, DENSE), torch.randint(0, CARD, (1, 2))
    with torch.no_grad():
        x = model.point(dense, ids)
        b = model.point(ref_dense, ref_ids).expand(N, -1)
    mlp64 = MLP([DENSE + 2 * DIM, 16, 8, 1]).double()
    mlp64.load_state_dict({k: v.double() for k, v in model.mlp.state_dict().items()})
    out = {name: t for name, t in model.state_dict().items()}
    out.update({
        "input.dense": dense,
        "input.ids": ids.to(torch.float32),
        "baseline.dense": ref_dense,
        "baseline.ids": ref_ids.to(torch.float32),
        "output.x": mlp64(x.double()).squeeze(1),
        "output.baseline": mlp64(b.double()).squeeze(1),
    })
    for method in ("gausslegendre", "riemann_trapezoid"):
        out["ig." + method] = integrated_gradients(mlp64, x.double(), b.double(), method)
    save("explain/testdata/torch_ig.safetensors", out)


if __name__ == "__main__":
    main()
