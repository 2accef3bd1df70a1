"""`dualscore bench` against its PyTorch side (tools/reference/train_step_benchmark.py), run
interleaved in rounds so that both see the same load, with the table written into BENCHMARKS.md.

Each round runs, for each preset in turn: `dualscore --threads N bench --preset P --json`, then
the PyTorch benchmark with OpenMP's default settings, then the same with
`OMP_WAIT_POLICY=PASSIVE`; each run is its own process (so the peak resident memory is that of
one preset). The table gives, per preset and measure, the median over the rounds of each
round's median (with the range of the round medians), and the ratio of dualscore's to the faster
of the two PyTorch settings (the one with the lower median over the rounds).

Run from the repository root, with a Python that has PyTorch:

    python3 tools/reference/bench_against_pytorch.py --dualscore target/release/dualscore \\
        --presets small,mid --batch 32 --threads 2 --rounds 3 --write BENCHMARKS.md

`--write` replaces the section "## Against PyTorch, interleaved" of that file (or appends it).
`--raw FILE` also saves every run's JSON result.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
HEADING = "## Against PyTorch, interleaved"
MEASURES = [
    ("train_step_ms", "training step (ms)"),
    ("score_ms", "score, first order (ms)"),
    ("logp_ms", "log p, t = 0 (ms)"),
    ("peak_rss_mib", "peak RSS (MiB)"),
]
SIDES = ["dualscore", "pytorch", "pytorch_passive"]


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON line in the output:\n" + text[-2000:])


def run(command, env=None):
    completed = subprocess.run(command, env=env, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed ({completed.returncode}):\n"
                           f"{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}")
    document = last_json(completed.stdout)
    if document.get("command") != "bench":
        raise ValueError(f"{shlex.join(command)}: not a bench result: {document}")
    return document["result"]


def commands(args, preset):
    common = ["--batch", str(args.batch), "--steps", str(args.steps), "--warmup", str(args.warmup)]
    rust = [args.dualscore, "--threads", str(args.threads), "bench", "--preset", preset, *common, "--json"]
    torch = [args.python, os.path.relpath(os.path.join(HERE, "train_step_benchmark.py")), "--presets", preset,
             "--threads", str(args.threads), *common, "--json"]
    return rust, torch


def lscpu():
    fields = {}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        return fields
    for line in out.splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def torch_version(python):
    out = subprocess.run([python, "-c", "import torch; print(torch.__version__)"],
                         capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def summary(values):
    med = statistics.median(values)
    return med, min(values), max(values)


def fmt(value, key):
    if key == "peak_rss_mib":
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def fmt_range(values, key):
    med, lo, hi = summary(values)
    if len(values) == 1:
        return fmt(med, key)
    return f"{fmt(med, key)} ({fmt(lo, key)} to {fmt(hi, key)})"


def table(results, presets):
    lines = [
        "| preset | measure | dualscore | PyTorch | PyTorch, `OMP_WAIT_POLICY=PASSIVE` | dualscore / faster PyTorch |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for preset in presets:
        for key, label in MEASURES:
            cells = []
            medians = {}
            for side in SIDES:
                values = [r[key] for r in results[preset][side] if r.get(key) is not None]
                medians[side] = statistics.median(values) if values else None
                cells.append(fmt_range(values, key) if values else "-")
            torch_sides = [s for s in SIDES[1:] if medians[s] is not None]
            if key == "peak_rss_mib" or not torch_sides or medians["dualscore"] is None:
                # Memory is compared with the faster setting's run, not the smaller.
                best = min(("pytorch", "pytorch_passive"),
                           key=lambda s: statistics.median([r["train_step_ms"] for r in results[preset][s]]))
                ratio = medians["dualscore"] / medians[best] if medians[best] else None
            else:
                best = min(torch_sides, key=lambda s: medians[s])
                ratio = medians["dualscore"] / medians[best]
            which = "default" if best == "pytorch" else "passive"
            ratio_cell = f"{ratio:.2f} ({which})" if ratio is not None else "-"
            lines.append(f"| {preset} | {label} | {' | '.join(cells)} | {ratio_cell} |")
    return "\n".join(lines)


def section(args, results, presets, started, finished, cpu, version, loads, rust_cmds, torch_cmds):
    model = cpu.get("Model name", "unknown")
    family = cpu.get("CPU family", "?")
    number = cpu.get("Model", "?")
    cores = os.cpu_count()
    parameters = {p: (results[p]["dualscore"][0]["setup"]["parameters"],
                      results[p]["pytorch"][0]["setup"]["parameters"]) for p in presets}
    param_text = "; ".join(f"{p}: {a:,} (dualscore) and {b:,} (PyTorch)" for p, (a, b) in parameters.items())
    text = [
        HEADING,
        "",
        f"`dualscore bench` and its PyTorch side (`tools/reference/train_step_benchmark.py`: the same",
        f"presets, loss, batch and measurements) run by `tools/reference/bench_against_pytorch.py`,",
        f"interleaved in {args.rounds} rounds (each round: for each preset, dualscore, PyTorch with",
        f"OpenMP's default settings, PyTorch with `OMP_WAIT_POLICY=PASSIVE`, each its own process).",
        f"Batch {args.batch}, {args.threads} threads, f32, {args.warmup} warm-up and {args.steps} timed repetitions",
        "of each measurement. Each cell is the median over the rounds of each round's median, with",
        "the range of the round medians; the last column divides dualscore's by the faster PyTorch",
        "setting's (the lower median; for the peak RSS, the setting with the faster training step).",
        "",
        f"- Machine: `{model}` (lscpu model name; CPU family {family}, model {number}), {cores} cores.",
        f"- Date: {started:%Y-%m-%d}, {started:%H:%M} to {finished:%H:%M} UTC; 1-minute load average at the",
        f"  rounds' starts: {', '.join(f'{l:.2f}' for l in loads)}.",
        f"- PyTorch {version} (Python {platform.python_version()}), {args.torch_source}.",
        f"- Parameters: {param_text}.",
        "- Command: `" + shlex.join([os.path.relpath(sys.argv[0])] + sys.argv[1:]) + "`, which runs",
    ]
    for rust, torch in zip(rust_cmds, torch_cmds):
        text.append(f"  `{shlex.join(rust)}`,")
        text.append(f"  `{shlex.join(torch)}` and the same with `OMP_WAIT_POLICY=PASSIVE`;")
    text[-1] = text[-1].rstrip(";") + "."
    text += ["", table(results, presets), ""]
    return "\n".join(text)


def write_section(path, new_section):
    with open(path) as f:
        content = f.read()
    pattern = re.compile(r"^" + re.escape(HEADING) + r"\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(content):
        content = pattern.sub(lambda _: new_section + "\n", content, count=1)
    else:
        content = content.rstrip("\n") + "\n\n" + new_section
    with open(path, "w") as f:
        f.write(content.rstrip("\n") + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dualscore", default="target/release/dualscore", help="the program")
    parser.add_argument("--python", default=sys.executable, help="a Python with PyTorch")
    parser.add_argument("--presets", default="small,mid")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--torch-source", default="PyTorch's CPU wheel",
                        help="where the PyTorch install came from, for the notes")
    parser.add_argument("--write", metavar="BENCHMARKS.md", help="write the section into this file")
    parser.add_argument("--raw", metavar="FILE", help="save every run's result as JSON")
    args = parser.parse_args()
    presets = args.presets.split(",")
    started = datetime.datetime.now(datetime.timezone.utc)
    cpu = lscpu()
    version = torch_version(args.python)
    results = {p: {s: [] for s in SIDES} for p in presets}
    loads = []
    rust_cmds, torch_cmds = [], []
    for preset in presets:
        rust, torch = commands(args, preset)
        rust_cmds.append(rust)
        torch_cmds.append(torch)
    default_env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    passive_env = dict(default_env, OMP_WAIT_POLICY="PASSIVE")
    for round_index in range(args.rounds):
        loads.append(os.getloadavg()[0])
        for preset, rust, torch in zip(presets, rust_cmds, torch_cmds):
            for side, command, env in [("dualscore", rust, None), ("pytorch", torch, default_env),
                                       ("pytorch_passive", torch, passive_env)]:
                result = run(command, env)
                results[preset][side].append(result)
                print(f"round {round_index + 1} {preset} {side}: "
                      + ", ".join(f"{k} {result.get(k):.1f}" for k, _ in MEASURES if result.get(k) is not None),
                      flush=True)
    finished = datetime.datetime.now(datetime.timezone.utc)
    text = section(args, results, presets, started, finished, cpu, version, loads, rust_cmds, torch_cmds)
    print()
    print(text)
    if args.raw:
        with open(args.raw, "w") as f:
            json.dump({"lscpu": cpu, "pytorch": version, "results": results}, f, indent=1)
    if args.write:
        write_section(args.write, text)


if __name__ == "__main__":
    main()
