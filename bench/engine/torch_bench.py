#!/usr/bin/python3
"""PyTorch side of `mlenv bench engine`: the same measurements, same JSON.

Run with Debian's PyTorch (apt-get install -y python3-torch):

    OMP_NUM_THREADS=N OMP_WAIT_POLICY=PASSIVE \
        /usr/bin/python3 bench/engine/torch_bench.py --model mlp --threads N

--model mlp: MLP 256->512->512->1, ReLU, BCE-with-logits, Adam (lr 1e-3) on
one fixed random batch; training then inference (no_grad) examples/s.
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


def mlp(args, res):
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 512),
                          nn.ReLU(), nn.Linear(512, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(args.batch, 256)
    y = (x[:, :1] > 0).float()
    loss_fn = nn.BCEWithLogitsLoss()
    last = [0.0]

    def train():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        last[0] = loss.item()

    res["train_examples_per_s"] = time_loop(args.seconds, train) * args.batch
    res["final_loss"] = last[0]

    def infer():
        with torch.no_grad():
            model(x)

    res["infer_examples_per_s"] = time_loop(args.seconds, infer) * args.batch


def gemm(args, res):
    res["gflops"] = {}
    for n in (512, 2048):
        a, b = torch.randn(n, n), torch.randn(n, n)
        c = torch.empty(n, n)
        rate = time_loop(args.seconds, lambda: torch.mm(a, b, out=c))
        res["gflops"][str(n)] = rate * 2 * n ** 3 / 1e9


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=["mlp", "gemm"], default="mlp")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--seconds", type=float, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    res = {"engine": "pytorch " + torch.__version__, "model": args.model,
           "threads": args.threads, "kernel": "torch", "seconds": args.seconds}
    if args.model == "mlp":
        res["batch"] = args.batch
        mlp(args, res)
    else:
        gemm(args, res)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
