"""PyTorch side of `mlenv bench explain`: integrated gradients of a
DLRM-style model (13 dense features, 26 tables of 100k x 16, dot
interaction, MLPs 13-512-256-16 and 367-512-256-1) for --examples random
examples against the zero baseline, --steps Gauss-Legendre path points
each (mlenv's default rule).

The work matches mlenv's: points are interpolated in (dense, embedding)
space, chunks of examples x (steps + 2) points (the path plus x and the
baseline, whose outputs give the completeness check) run through one
forward pass and one torch.autograd.grad call for the inputs only (the
weights do not require gradients), and the weighted gradients are summed
per feature. Prints one JSON line like mlenv's --json output.

    OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 \
        bench/explain/torch_ig_bench.py --threads 2
"""
import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn as tnn

DENSE, TABLES, ROWS, DIM = 13, 26, 100_000, 16


def mlp(sizes):
    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(tnn.Linear(a, b))
        if i + 2 < len(sizes):
            layers.append(tnn.ReLU())
    return tnn.Sequential(*layers)


class DLRM(tnn.Module):
    def __init__(self):
        super().__init__()
        self.bottom = mlp([DENSE, 512, 256, DIM])
        self.top = mlp([DIM + TABLES * (TABLES + 1) // 2, 512, 256, 1])
        self.tables = tnn.ModuleList(tnn.Embedding(ROWS, DIM) for _ in range(TABLES))
        f = TABLES + 1
        self.pairs = torch.tensor([i * f + j for i in range(1, f) for j in range(i)])

    def forward(self, dense, embs):
        """dense [n, 13], embs [n, 26, 16] -> logits [n]."""
        x = torch.relu(self.bottom(dense))
        t = torch.cat([x.unsqueeze(1), embs], 1)
        z = torch.bmm(t, t.transpose(1, 2)).flatten(1)
        return self.top(torch.cat([x, z[:, self.pairs]], 1)).squeeze(1)


def gauss_legendre(steps):
    """Gauss-Legendre nodes and weights on [0, 1]."""
    a, w = np.polynomial.legendre.leggauss(steps)
    return (a + 1) / 2, w / 2


def explain(model, dense, embs, alphas, weights, per):
    """Attributions [n, 13 + 26] and completeness errors against zero."""
    n, s = dense.shape[0], len(alphas)
    a = torch.tensor(alphas, dtype=torch.float32)
    w = torch.tensor(weights, dtype=torch.float32)
    coef = torch.cat([a, torch.ones(1), torch.zeros(1)])  # path, x, baseline
    attrs, errors, deltas = [], [], []
    for lo in range(0, n, per):
        xd, xe = dense[lo:lo + per], embs[lo:lo + per]
        k = xd.shape[0]
        pd = (coef.view(1, -1, 1) * xd.unsqueeze(1)).reshape(-1, DENSE).requires_grad_(True)
        pe = (coef.view(1, -1, 1, 1) * xe.unsqueeze(1)).reshape(-1, TABLES, DIM).requires_grad_(True)
        out = model(pd, pe)
        gd, ge = torch.autograd.grad(out.sum(), [pd, pe])
        gd = (gd.view(k, s + 2, DENSE)[:, :s] * w.view(1, -1, 1)).sum(1)
        ge = (ge.view(k, s + 2, TABLES, DIM)[:, :s] * w.view(1, -1, 1, 1)).sum(1)
        attr = torch.cat([gd * xd, (ge * xe).sum(2)], 1)
        y = out.detach().view(k, s + 2)
        delta = y[:, s] - y[:, s + 1]
        errors.append((attr.sum(1) - delta).abs())
        deltas.append(delta.abs())
        attrs.append(attr)
    delta = torch.cat(deltas)
    # Relative to |f(x) - f(b)|, floored at a tenth of its mean, as mlenv.
    return torch.cat(attrs), torch.cat(errors) / torch.clamp(delta, min=0.1 * float(delta.mean()))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--examples", type=int, default=10_000)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--max-rows", type=int, default=2048)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    model = DLRM()
    with torch.no_grad():
        for t in model.tables:
            t.weight.mul_(0.1)
    for q in model.parameters():
        q.requires_grad_(False)
    dense = torch.randn(args.examples, DENSE)
    ids = torch.randint(0, ROWS, (args.examples, TABLES))
    embs = torch.stack([model.tables[j](ids[:, j]) for j in range(TABLES)], 1)
    alphas, weights = gauss_legendre(args.steps)
    per = max(args.max_rows // (args.steps + 2), 1)
    explain(model, dense[:4], embs[:4], alphas, weights, per)  # warm-up
    start, cpu = time.perf_counter(), time.process_time()
    _, err = explain(model, dense, embs, alphas, weights, per)
    secs, cpu_secs = time.perf_counter() - start, time.process_time() - cpu
    print(json.dumps({
        "engine": "pytorch", "version": torch.__version__,
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", ""), "examples": args.examples,
        "steps": args.steps, "method": "gausslegendre", "threads": args.threads,
        "seconds": secs, "examples_per_s": args.examples / secs,
        "cpu_seconds": cpu_secs, "examples_per_cpu_s": args.examples / cpu_secs,
        "completeness_mean_error": float(err.mean()),
    }))


if __name__ == "__main__":
    main()
