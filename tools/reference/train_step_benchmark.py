"""The time of one PyTorch training step of the UNet energy, for comparison with
examples/07_training_step_benchmark.rs: dual score matching loss (tools/reference/unet.py), its
gradient (second order) and a torch.optim.Adam update, float32, batch 32.

Each timed step includes what the Rust trainer's step does: take a batch of random images of the
preset's size, flip each with probability 1/2, draw t log-uniform in [1e-9, 1e3] and z, compute
the loss, backpropagate and update. After `--warmup` steps it times `--steps` more and prints the
median, minimum and maximum milliseconds per step.

Run from the repository root:  /usr/bin/python3 tools/reference/train_step_benchmark.py --threads 2
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import unet  # noqa: E402

PRESETS = {
    "small": dict(scales=2, base_width=16, layers_per_block=2, size=16),
    "mid": dict(scales=3, base_width=32, layers_per_block=2, size=32),
    "paper": dict(scales=3, base_width=64, layers_per_block=3, size=64),
}


def time_steps(preset, args):
    config = dict(PRESETS[preset])
    size = config.pop("size")
    torch.manual_seed(0)
    energy = unet.InnerProductEnergy(unet.UNet(image_channels=1, activation="gelu", **config))
    print(f"{unet.num_parameters(energy)} parameters, images {size}x{size}, batch {args.batch}")
    generator = torch.Generator().manual_seed(1)
    images = torch.rand((8 * args.batch, 1, size, size), generator=generator)
    optimizer = torch.optim.Adam(energy.parameters(), lr=5e-4, betas=(0.9, 0.999), eps=1e-8)
    times = []
    for i in range(args.warmup + args.steps):
        started = time.perf_counter()
        index = torch.randint(images.shape[0], (args.batch,), generator=generator)
        x = images[index]
        flip = torch.rand(args.batch, generator=generator) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
        u = torch.rand(args.batch, generator=generator, dtype=torch.float64)
        t = (1e-9 * torch.exp(u * np.log(1e12))).float()
        z = torch.randn(x.shape, generator=generator)
        optimizer.zero_grad(set_to_none=True)
        loss = unet.dual_loss(energy, x, t, z)[0]
        loss.backward()
        optimizer.step()
        ms = (time.perf_counter() - started) * 1e3
        if i >= args.warmup:
            times.append(ms)
    return sorted(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--presets", default="small,mid")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads, float32; "
          f"{args.warmup} warm-up steps, {args.steps} timed")
    summary = {}
    for preset in args.presets.split(","):
        print(f"{preset}: ", end="")
        times = time_steps(preset, args)
        median = statistics.median(times)
        print(f"{preset}: median {median:.1f} ms/step (min {times[0]:.1f}, max {times[-1]:.1f}) "
              f"over {len(times)} steps")
        summary[f"{preset}_ms"] = round(median, 2)
    print(json.dumps(summary, separators=(",", ":")))


if __name__ == "__main__":
    main()
