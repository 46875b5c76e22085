"""The examples/fashion-mlp.yaml job in PyTorch, for bench/train/run.sh.

Same data (Debian's dataset-fashion-mnist), preprocessing (pixels / 255),
architecture (784-256-128-10, ReLU), loss (cross-entropy), optimizer (Adam,
lr 0.001, cosine decay to 0 over all steps, stepped per batch), batch size
(128), epochs (12), evaluation on the test split after each epoch, data
held in memory. Prints one JSON line: wall seconds (from reading the files
to the last evaluation) and the final test accuracy.

    OMP_NUM_THREADS=1 /usr/bin/python3 bench/train/fashion_mlp_torch.py --threads 1
"""
import argparse
import gzip
import json
import time

import numpy as np
import torch

DIR = "/usr/share/datasets/fashion-mnist/"


def idx(name):
    with gzip.open(DIR + name) as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch", type=int, default=128)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    start = time.perf_counter()
    x = torch.from_numpy(idx("train-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / 255)
    y = torch.from_numpy(idx("train-labels-idx1-ubyte.gz").astype(np.int64))
    tx = torch.from_numpy(idx("t10k-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / 255)
    ty = torch.from_numpy(idx("t10k-labels-idx1-ubyte.gz").astype(np.int64))
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128),
                                torch.nn.ReLU(), torch.nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps_per_epoch = (len(x) + args.batch - 1) // args.batch
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps_per_epoch * args.epochs)
    loss_fn = torch.nn.CrossEntropyLoss()
    acc = 0.0
    for _ in range(args.epochs):
        model.train()
        perm = torch.randperm(len(x))
        for i in range(0, len(x), args.batch):
            idx_b = perm[i:i + args.batch]
            opt.zero_grad()
            loss_fn(model(x[idx_b]), y[idx_b]).backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            acc = (model(tx).argmax(1) == ty).float().mean().item()
    print(json.dumps({"engine": "pytorch " + torch.__version__, "threads": args.threads,
                      "wall_s": time.perf_counter() - start, "accuracy": acc}))


if __name__ == "__main__":
    main()
