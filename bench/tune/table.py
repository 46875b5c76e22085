#!/usr/bin/python3
"""Prints the comparison table of bench/tune/run.sh from JSON lines written
by `mlenv bench tune --json` and optuna_bench.py --json."""
import json
import sys

COLUMNS = ["optuna-random", "optuna-tpe", "tpe", "tpe-tuned", "gp"]
FUNCTIONS = ["branin", "hartmann6", "rosenbrock10", "ackley10", "mixed"]


def main():
    res = {}
    for path in sys.argv[1:]:
        with open(path) as f:
            for line in f:
                d = json.loads(line)
                res[(d["trials"], d["function"], d["sampler"])] = d
    trials = sorted({k[0] for k in res})
    functions = sorted({k[1] for k in res}, key=lambda f: (FUNCTIONS + [f]).index(f))
    print("median best value over seeds (lower is better); seeds per cell in brackets where not all")
    print("| trials | function | " + " | ".join(COLUMNS) + " | tpe-tuned vs Optuna TPE | GP vs Optuna TPE |")
    print("|---" * (len(COLUMNS) + 4) + "|")
    tally = {"better": 0, "tie": 0, "worse": 0}
    full = max(len(d["best"]) for d in res.values())
    for n in trials:
        for fn in functions:
            cells = []
            for c in COLUMNS:
                d = res.get((n, fn, c))
                if d is None:
                    cells.append("")
                    continue
                cell = "%.6g" % d["median"]
                if len(d["best"]) != full:
                    cell += " [%d]" % len(d["best"])
                cells.append(cell)
            opt = res[(n, fn, "optuna-tpe")]["median"]
            verdict = compare(res[(n, fn, "tpe-tuned")]["median"], opt)
            tally[verdict] += 1
            gp = res.get((n, fn, "gp"))
            print("| %d | %s | %s | %s | %s |" % (n, fn, " | ".join(cells), verdict,
                                                  compare(gp["median"], opt) if gp else ""))
    print()
    print("mlenv tpe-tuned against Optuna TPE: %(better)d better, %(tie)d tied, %(worse)d worse" % tally)


def compare(a, b):
    """Compares two medians with a relative tolerance of 1e-6."""
    tol = 1e-6 * max(abs(a), abs(b), 1e-12)
    if a < b - tol:
        return "better"
    if a > b + tol:
        return "worse"
    return "tie"


if __name__ == "__main__":
    main()
