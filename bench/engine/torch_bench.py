#!/usr/bin/python3
"""PyTorch side of `mlenv bench engine`: the same measurements, same JSON.

Run with Debian's PyTorch (apt-get install -y python3-torch):

    OMP_NUM_THREADS=N OMP_WAIT_POLICY=PASSIVE \
        /usr/bin/python3 bench/engine/torch_bench.py --model mlp --threads N

--model mlp|dlrm|cnn: train on one fixed random batch, then inference
(no_grad); examples/s for each. The models match bench/engine/engine.go:
  mlp   MLP 256->512->512->1, ReLU, BCE-with-logits, Adam (lr 1e-3)
  dlrm  13 dense features, 26 EmbeddingBag(100k, 16, sparse=True) tables
        with one id per sample, dot interaction, MLPs 13-512-256-16 and
        367-512-256-1, BCE, SGD (lr 0.01)
  cnn   conv 1->32 3x3 pad 1, ReLU, max-pool 2, conv 32->64, ReLU,
        max-pool 2, Linear 3136->128, ReLU, Linear 128->10, cross-entropy,
        Adam (lr 1e-3)
--model gemm: torch.mm GFLOP/s at 512^3 and 2048^3.
Warm-up (--seconds / 5) is excluded from each figure.
"""
import argparse
import json
import time

import torch
import torch.nn as nn


def repeat(seconds, step):
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        step()
        n += 1
    return n / (time.perf_counter() - start)


def time_loop(seconds, step):
    repeat(seconds / 5, step)
    return repeat(seconds, step)


def run_model(args, res, model, inputs, loss_fn, opt):
    """Time training steps, then no_grad forward passes, on fixed inputs."""
    last = [0.0]

    def train():
        opt.zero_grad()
        loss = loss_fn(model(*inputs))
        loss.backward()
        opt.step()
        last[0] = loss.item()

    res["train_examples_per_s"] = time_loop(args.seconds, train) * args.batch
    res["final_loss"] = last[0]

    def infer():
        with torch.no_grad():
            model(*inputs)

    res["infer_examples_per_s"] = time_loop(args.seconds, infer) * args.batch


def mlp(args, res):
    model = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 512),
                          nn.ReLU(), nn.Linear(512, 1))
    x = torch.randn(args.batch, 256)
    y = (x[:, :1] > 0).float()
    bce = nn.BCEWithLogitsLoss()
    run_model(args, res, model, (x,), lambda z: bce(z, y),
              torch.optim.Adam(model.parameters(), lr=1e-3))


def mlp_layers(sizes, last_relu=False):
    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_relu:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class DLRM(nn.Module):
    def __init__(self, tables=26, rows=100_000, dim=16):
        super().__init__()
        self.bottom = mlp_layers([13, 512, 256, dim], last_relu=True)
        self.emb = nn.ModuleList([nn.EmbeddingBag(rows, dim, mode="sum", sparse=True)
                                  for _ in range(tables)])
        f = tables + 1
        self.top = mlp_layers([dim + f * (f - 1) // 2, 512, 256, 1])
        self.li = torch.tensor([i for i in range(f) for j in range(i)])
        self.lj = torch.tensor([j for i in range(f) for j in range(i)])

    def forward(self, dense, ids, offsets):
        x = self.bottom(dense)
        feats = [x] + [e(ids[t], offsets) for t, e in enumerate(self.emb)]
        t = torch.stack(feats, 1)
        z = torch.bmm(t, t.transpose(1, 2))
        return self.top(torch.cat([x, z[:, self.li, self.lj]], 1))


def dlrm(args, res):
    model = DLRM()
    dense = torch.randn(args.batch, 13)
    ids = torch.randint(0, 100_000, (26, args.batch))
    offsets = torch.arange(args.batch)
    y = (ids[0] % 2).float().unsqueeze(1)
    bce = nn.BCEWithLogitsLoss()
    run_model(args, res, model, (dense, ids, offsets), lambda z: bce(z, y),
              torch.optim.SGD(model.parameters(), lr=0.01))


def cnn(args, res):
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
    x = torch.randn(args.batch, 1, 28, 28)
    y = torch.randint(0, 10, (args.batch,))
    ce = nn.CrossEntropyLoss()
    run_model(args, res, model, (x,), lambda z: ce(z, y),
              torch.optim.Adam(model.parameters(), lr=1e-3))


def gemm(args, res):
    res["gflops"] = {}
    for n in (512, 2048):
        a, b = torch.randn(n, n), torch.randn(n, n)
        c = torch.empty(n, n)
        rate = time_loop(args.seconds, lambda: torch.mm(a, b, out=c))
        res["gflops"][str(n)] = rate * 2 * n ** 3 / 1e9


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=["mlp", "dlrm", "cnn", "gemm"], default="mlp")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--seconds", type=float, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    res = {"engine": "pytorch " + torch.__version__, "model": args.model,
           "threads": args.threads, "kernel": "torch", "seconds": args.seconds}
    if args.model == "gemm":
        gemm(args, res)
    else:
        res["batch"] = args.batch
        {"mlp": mlp, "dlrm": dlrm, "cnn": cnn}[args.model](args, res)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
