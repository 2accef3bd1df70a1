"""How a training step's time grows with the batch and the image size: `dualscore bench` over
a grid, printed as a Markdown table (with the machine's lscpu model name, family and model).

Run from the repository root after `cargo build --release -p dualscore`:

    python3 tools/bench_scaling.py --preset small --batches 8,16,32,64,128 --sizes 16,32,64

Each row is one process: `dualscore --threads N bench --preset P --batch B --size S --json`
(training step, first-order score and log p, medians after warm-up). The time per image
(step / batch) shows whether the step grows linearly with the batch; the time per pixel
(step / (batch size^2)) whether it grows linearly with the image area.
"""

import argparse
import datetime
import json
import subprocess


def lscpu():
    fields = {}
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return (f"`{fields.get('Model name', '?')}` (lscpu model name; CPU family "
            f"{fields.get('CPU family', '?')}, model {fields.get('Model', '?')})")


def bench(program, threads, preset, batch, size, warmup, steps):
    command = [program, "--threads", str(threads), "bench", "--preset", preset,
               "--batch", str(batch), "--size", str(size), "--warmup", str(warmup),
               "--steps", str(steps), "--sgemm", "64", "--json"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = [l for l in out.splitlines() if l.startswith("{")][-1]
    return json.loads(line)["result"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dualscore", default="target/release/dualscore")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", default="8,16,32,64,128")
    parser.add_argument("--sizes", default="16,32,64")
    parser.add_argument("--batch-for-sizes", type=int, default=32)
    parser.add_argument("--size-for-batches", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()

    grid = [(int(b), args.size_for_batches) for b in args.batches.split(",")]
    grid += [(args.batch_for_sizes, int(s)) for s in args.sizes.split(",")
             if (args.batch_for_sizes, int(s)) not in grid]
    print(f"- Machine: {lscpu()}, {args.threads} threads. Date: "
          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC.")
    print(f"- Command: `python3 tools/bench_scaling.py --preset {args.preset} --threads "
          f"{args.threads} --batches {args.batches} --sizes {args.sizes} --warmup "
          f"{args.warmup} --steps {args.steps}`")
    print()
    print("| batch | image | train step ms | ms per image | us per pixel | score ms | log p ms |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for batch, size in grid:
        r = bench(args.dualscore, args.threads, args.preset, batch, size, args.warmup, args.steps)
        step = r["train_step_ms"]
        print(f"| {batch} | {size}x{size} | {step:.1f} | {step / batch:.2f} | "
              f"{1000 * step / (batch * size * size):.2f} | {r['score_ms']:.1f} | "
              f"{r['logp_ms']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
