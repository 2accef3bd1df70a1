"""Summarizes the held-out loss curves of examples/06_compare_with_reference.rs and
tools/reference/train_compare.py (CSV files with columns implementation, seed, step,
heldout_loss, heldout_dsm, heldout_tsm, elapsed_s) as Markdown tables: mean and standard deviation
(over seeds, ddof 1) per evaluation step for each implementation, the per-seed final values, and
the verdict on the final held-out loss: the means must differ by less than 3 seed-to-seed standard
deviations (pooled over the two implementations); the same for the final dsm and tsm terms and
for each seed's held-out loss averaged over the last evaluations (less noisy than one evaluation).

Run:  /usr/bin/python3 tools/reference/compare_curves.py rust.csv pytorch.csv [--final-step 2000]
"""

import argparse
import csv
import math
from collections import defaultdict


def read(paths):
    rows = defaultdict(dict)  # (implementation, seed) -> step -> (loss, dsm, tsm, elapsed)
    for path in paths:
        with open(path) as f:
            for r in csv.DictReader(f):
                key = (r["implementation"], int(r["seed"]))
                rows[key][int(r["step"])] = tuple(float(r[k]) for k in
                                                  ("heldout_loss", "heldout_dsm", "heldout_tsm", "elapsed_s"))
    return rows


def mean_std(values):
    n = len(values)
    m = sum(values) / n
    s = math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1)) if n > 1 else float("nan")
    return m, s


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("csv", nargs="+")
    parser.add_argument("--final-step", type=int, default=2000)
    parser.add_argument("--tail-span", type=int, default=400,
                        help="steps before the final one averaged in the tail comparison")
    args = parser.parse_args()
    rows = read(args.csv)
    impls = sorted({k[0] for k in rows}, key=lambda i: (i != "rust", i))
    final = args.final_step
    complete = {i: sorted(s for (j, s), steps in rows.items() if j == i and final in steps) for i in impls}

    steps = sorted({s for (i, seed), v in rows.items() if seed in complete[i] for s in v})
    header = "| step | " + " | ".join(f"{i} loss (n={len(complete[i])})" for i in impls) + " | " + \
        " | ".join(f"{i} dsm / tsm" for i in impls) + " |"
    print(header)
    print("|" + "---|" * (1 + 2 * len(impls)))
    for step in steps:
        cells, parts = [], []
        for i in impls:
            vals = [rows[(i, s)][step] for s in complete[i] if step in rows[(i, s)]]
            if not vals:
                cells.append("")
                parts.append("")
                continue
            m, sd = mean_std([v[0] for v in vals])
            cells.append(f"{m:.4f} ± {sd:.4f}")
            md, _ = mean_std([v[1] for v in vals])
            mt, _ = mean_std([v[2] for v in vals])
            parts.append(f"{md:.4f} / {mt:.4f}")
        print(f"| {step} | " + " | ".join(cells) + " | " + " | ".join(parts) + " |")

    print()
    print(f"Per-seed values at step {final} (held-out loss, dsm, tsm; training wall time in s):")
    print()
    print("| implementation | seed | loss | dsm | tsm | seconds |")
    print("|---|---|---|---|---|---|")
    for i in impls:
        for s in complete[i]:
            loss, dsm, tsm, elapsed = rows[(i, s)][final]
            print(f"| {i} | {s} | {loss:.4f} | {dsm:.4f} | {tsm:.4f} | {elapsed:.0f} |")

    if len(impls) == 2 and all(len(complete[i]) >= 2 for i in impls):
        print()
        tail = [st for st in steps if st >= final - args.tail_span]

        def per_seed(i, what):
            if what == "loss":
                return [rows[(i, s)][final][0] for s in complete[i]]
            if what == "dsm":
                return [rows[(i, s)][final][1] for s in complete[i]]
            if what == "tsm":
                return [rows[(i, s)][final][2] for s in complete[i]]
            # the seed's mean held-out loss over the last evaluations
            return [sum(rows[(i, s)][st][0] for st in tail) / len(tail) for s in complete[i]]

        labels = {
            "loss": f"final held-out loss (step {final})",
            "dsm": f"final held-out dsm (step {final})",
            "tsm": f"final held-out tsm (step {final})",
            "tail": f"held-out loss averaged over steps {tail[0]}..{tail[-1]} per seed",
        }
        (a, b) = impls
        for what, label in labels.items():
            ma, sa = mean_std(per_seed(a, what))
            mb, sb = mean_std(per_seed(b, what))
            pooled = math.sqrt((sa**2 + sb**2) / 2)
            se = math.sqrt(sa**2 / len(complete[a]) + sb**2 / len(complete[b]))
            diff = ma - mb
            verdict = "agree" if abs(diff) < 3 * pooled else "DISAGREE"
            print(f"- {label}: {a} {ma:.4f} ± {sa:.4f} (n={len(complete[a])}), "
                  f"{b} {mb:.4f} ± {sb:.4f} (n={len(complete[b])}); difference {diff:+.4f} = "
                  f"{diff / pooled:+.2f} pooled seed-to-seed standard deviations ({pooled:.4f}), "
                  f"{diff / se:+.2f} standard errors of the difference ({se:.4f}): {verdict}.")
        print()
        print("Criterion: |difference of means| < 3 pooled seed-to-seed standard deviations.")

if __name__ == "__main__":
    main()
