#!/usr/bin/python3
"""Optuna's side of mlenv's tuning benchmark.

Minimises the same test functions as `mlenv bench tune` (definitions in
docs/tuning.md and tune/benchfn) with Optuna's TPESampler or RandomSampler,
once per seed, and prints each seed's best value and the median (--json:
the same JSON object as `mlenv bench tune --json`).
"""
import argparse
import json
import math
import statistics
import sys

import optuna


def branin(x1, x2):
    b = 5.1 / (4 * math.pi ** 2)
    c = 5 / math.pi
    t = 1 / (8 * math.pi)
    q = x2 - b * x1 * x1 + c * x1 - 6
    return q * q + 10 * (1 - t) * math.cos(x1) + 10


HART_ALPHA = [1.0, 1.2, 3.0, 3.2]
HART_A = [
    [10, 3, 17, 3.5, 1.7, 8],
    [0.05, 10, 17, 0.1, 8, 14],
    [3, 3.5, 1.7, 10, 17, 8],
    [17, 8, 0.05, 10, 0.1, 14],
]
HART_P = [
    [1312, 1696, 5569, 124, 8283, 5886],
    [2329, 4135, 8307, 3736, 1004, 9991],
    [2348, 1451, 3522, 2883, 3047, 6650],
    [4047, 8828, 8732, 5743, 1091, 381],
]


def hartmann6(x):
    s = 0.0
    for i in range(4):
        inner = sum(HART_A[i][j] * (x[j] - HART_P[i][j] * 1e-4) ** 2 for j in range(6))
        s += HART_ALPHA[i] * math.exp(-inner)
    return -s


def rosenbrock(x):
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1))


def ackley(x):
    n = len(x)
    sq = sum(v * v for v in x)
    cs = sum(math.cos(2 * math.pi * v) for v in x)
    return -20 * math.exp(-0.2 * math.sqrt(sq / n)) - math.exp(cs / n) + 20 + math.e


def vector(trial, n, low, high):
    return [trial.suggest_float("x%d" % i, low, high) for i in range(n)]


OFFSETS = {"low": 0.5, "mid": 0.0, "high": 1.0}


def mixed(trial):
    kind = trial.suggest_categorical("kind", ["branin", "quad", "flat"])
    if kind == "branin":
        v = branin(trial.suggest_float("branin_x1", -5, 10), trial.suggest_float("branin_x2", 0, 15))
    elif kind == "quad":
        n = trial.suggest_int("quad_n", 1, 20)
        lr = trial.suggest_float("quad_lr", 1e-4, 1, log=True)
        v = 1 + (math.log10(lr) + 2) ** 2 + ((n - 7) / 4) ** 2
    else:
        v = 1.5
    return v + OFFSETS[trial.suggest_categorical("offset", ["low", "mid", "high"])]


FUNCTIONS = {
    "branin": lambda t: branin(t.suggest_float("x1", -5, 10), t.suggest_float("x2", 0, 15)),
    "hartmann6": lambda t: hartmann6(vector(t, 6, 0, 1)),
    "rosenbrock10": lambda t: rosenbrock(vector(t, 10, -5, 10)),
    "ackley10": lambda t: ackley(vector(t, 10, -32.768, 32.768)),
    "mixed": mixed,
}

SAMPLERS = {
    "tpe": lambda seed: optuna.samplers.TPESampler(seed=seed),
    "tpe-multivariate": lambda seed: optuna.samplers.TPESampler(seed=seed, multivariate=True),
    "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--function", required=True, choices=sorted(FUNCTIONS))
    ap.add_argument("--sampler", default="tpe", choices=sorted(SAMPLERS))
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    import warnings
    warnings.simplefilter("ignore")  # multivariate TPE is "experimental"
    best = []
    for seed in range(args.seeds):
        study = optuna.create_study(sampler=SAMPLERS[args.sampler](seed))
        study.optimize(FUNCTIONS[args.function], n_trials=args.trials)
        best.append(study.best_value)
    med = statistics.median(best)
    if args.json:
        json.dump({"function": args.function, "sampler": "optuna-" + args.sampler, "trials": args.trials,
                   "seeds": list(range(args.seeds)), "best": best, "median": med}, sys.stdout)
        print()
        return
    print("%s, optuna %s, %d trials" % (args.function, args.sampler, args.trials))
    for seed, b in enumerate(best):
        print("seed %2d  best %.6g" % (seed, b))
    print("median   %.6g" % med)


if __name__ == "__main__":
    main()
