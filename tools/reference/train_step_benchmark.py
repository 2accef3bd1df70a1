"""The PyTorch side of `dualscore bench` (cli/src/app/bench.rs): the same presets, loss, batch
and measurements, with the same JSON keys where they apply, float32 on the CPU.

For each preset it times, like `dualscore bench`:

- `train_step_ms`: one training step as the Rust trainer runs it: take a batch of random images
  of the preset's size, flip each with probability 1/2, draw t log-uniform in [1e-9, 1e3] and z,
  compute the dual score matching loss (tools/reference/unet.py, with the energy gradient and
  dU/dt on the graph), backpropagate (second order), Adam update (lr 1e-4, the bench's), and
  for `fast` the parameter average of decay 0.999;
- `score_ms`: the energy gradient and dU/dt of a batch of uniform random images at log-uniform
  t, first order, the parameters detached;
- `logp_ms`: the energy of the batch at t = 0 under `torch.no_grad()` (one forward);
- `peak_rss_mib`: the peak resident memory of the process (ru_maxrss, the VmHWM that the Rust
  side reads);
- `conv`: GFLOP/s of the preset's largest 3x3 convolution (base width in and out, batch of
  the preset's image size): forward, input gradient and weight gradient
  (torch.nn.grad.conv2d_input / conv2d_weight);
- `sgemm`: the best GFLOP/s of square torch.mm products.

Each measurement runs `--warmup` untimed times, then `--steps` timed; the median is reported
(sgemm: the best). `fast` is the `fast` preset of cli/src/model/config.rs and
cli/src/app/architecture.rs: the small UNet on log(t + 1e-9) (16 frequencies from 1/0.25 to
1/64, embedding width 128), centered on the channel means, preconditioned (data variance of the
images, t floor 1e-5), with the time offset b(t) = d MLP(log(t + 1e-9)) (1 -> 64 -> 64 -> 1,
GELU) and a full-covariance Gaussian base fitted on the images (ridge 1e-6), the network's last
convolution and the offset's last layer starting at zero.

The images are uniform random values, as many as the Rust bench draws (max(8 batch, 64), and
4 d for a model with a Gaussian base of d <= 1024 values).

Prints a table per preset, then one JSON line per preset `{"command": "bench", "result": {...}}`
(with `--json`, only the JSON lines). Run from the repository root:

    python3 tools/reference/train_step_benchmark.py --presets small,mid --batch 32 --threads 2
"""

import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(__file__))
import unet  # noqa: E402

PRESETS = {
    "small": dict(scales=2, base_width=16, layers_per_block=2, size=16),
    "mid": dict(scales=3, base_width=32, layers_per_block=2, size=32),
    "paper": dict(scales=3, base_width=64, layers_per_block=3, size=64),
    "fast": dict(scales=2, base_width=16, layers_per_block=2, size=16, embedding_frequencies=16,
                 embedding_width=128, embedding_t_min=0.25, embedding_t_max=64.0),
}

LEARNING_RATE = 1e-4  # the bench's constant schedule
FAST_AVERAGE_DECAY = 0.999
TIME_T0 = 1e-9  # DEFAULT_TIME_OFFSET_T0
PRECONDITIONING_T_FLOOR = 1e-5
BASE_RIDGE = 1e-6
MAX_BASE_DIM = 1024


class LogTimeUNet(nn.Module):
    """A UNet whose time embedding sees log(t + t0) instead of t (TimeInput::LogVariance)."""

    def __init__(self, network, t0=TIME_T0):
        super().__init__()
        self.network = network
        self.t0 = t0

    def forward(self, y, t):
        return self.network(y, torch.log(t + self.t0))


class FastEnergy(nn.Module):
    """The `fast` preset's energy (core/src/energy/inner_product.rs with every option on):

    U = sqrt(v / (t + t_floor)) 1/2 <u, s(u, t)> + d b(log(t + t0)) + U_G(y, t),
    u = (y - mu_c) / sqrt(v + t),
    U_G = 1/2 sum_k (<y - m, V_k>^2 / (l_k + t) + log(2 pi (l_k + t))).
    """

    def __init__(self, network, images):
        super().__init__()
        self.network = network
        n, c, h, w = images.shape
        d = c * h * w
        data = images.double()
        self.register_buffer("center", data.mean(dim=(0, 2, 3)).float()[None, :, None, None])
        self.data_variance = float(data.reshape(n, d).var(dim=0, unbiased=False).mean())
        self.time_offset = nn.Sequential(nn.Linear(1, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(),
                                         nn.Linear(64, 1, bias=False))
        nn.init.zeros_(self.time_offset[-1].weight)
        flat = data.reshape(n, d)
        mean = flat.mean(dim=0)
        centered = flat - mean
        covariance = centered.T @ centered / (n - 1) + BASE_RIDGE * torch.eye(d, dtype=torch.float64)
        eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
        self.register_buffer("base_mean", mean.float())
        self.register_buffer("base_eigenvalues", eigenvalues.float())
        self.register_buffer("base_eigenvectors", eigenvectors.float())

    def forward(self, y, t):
        n = y.shape[0]
        d = y[0].numel()
        x = y - self.center
        v = self.data_variance
        u_in = x * torch.rsqrt(t + v)[:, None, None, None]
        s = self.network(u_in, t)
        out_scale = torch.sqrt(v / (t + PRECONDITIONING_T_FLOOR))
        u = 0.5 * (u_in * s).sum(dim=(1, 2, 3)) * out_scale
        u = u + d * self.time_offset(torch.log(t + TIME_T0)[:, None])[:, 0]
        coefficients = (y.reshape(n, d) - self.base_mean) @ self.base_eigenvectors
        variances = self.base_eigenvalues[None, :] + t[:, None]
        quadratic = (coefficients.square() / variances).sum(dim=1)
        log_det = torch.log(2.0 * math.pi * variances).sum(dim=1)
        return u + 0.5 * (quadratic + log_det)


def build(preset, images):
    config = dict(PRESETS[preset])
    config.pop("size")
    torch.manual_seed(0)
    network = unet.UNet(image_channels=images.shape[1], activation="gelu", **config)
    if preset == "fast":
        # The model starts as its Gaussian base: the network's last convolution is zero.
        nn.init.zeros_(network.decoder[0][-1].weight)
        return FastEnergy(LogTimeUNet(network), images)
    return unet.InnerProductEnergy(network)


def image_count(preset, batch, d):
    count = max(8 * batch, 64)
    if preset == "fast" and d <= MAX_BASE_DIM:
        count = max(count, 4 * d)
    return count


def log_uniform_t(n, generator):
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    return (1e-9 * torch.exp(u * np.log(1e12))).float()


def timed(args, f):
    times = []
    for i in range(args.warmup + args.steps):
        started = time.perf_counter()
        f()
        ms = (time.perf_counter() - started) * 1e3
        if i >= args.warmup:
            times.append(ms)
    return times


def train_step_times(energy, images, args, generator):
    batch = args.batch
    optimizer = torch.optim.Adam(energy.parameters(), lr=LEARNING_RATE, betas=(0.9, 0.999), eps=1e-8)
    params = [p for p in energy.parameters() if p.requires_grad]
    average = [p.detach().clone() for p in params] if args.preset_name == "fast" else None
    step = [0]

    def one_step():
        index = torch.randint(images.shape[0], (batch,), generator=generator)
        x = images[index]
        flip = torch.rand(batch, generator=generator) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
        t = log_uniform_t(batch, generator)
        z = torch.randn(x.shape, generator=generator)
        optimizer.zero_grad(set_to_none=True)
        loss = unet.dual_loss(energy, x, t, z)[0]
        loss.backward()
        optimizer.step()
        if average is not None:
            # ParameterAverage: decay min(0.999, (1 + step) / (10 + step)).
            decay = min(FAST_AVERAGE_DECAY, (1 + step[0]) / (10 + step[0]))
            with torch.no_grad():
                torch._foreach_lerp_(average, [p.detach() for p in params], 1.0 - decay)
        step[0] += 1

    return timed(args, one_step)


def conv_throughput(batch, width, size, args):
    generator = torch.Generator().manual_seed(3)
    x = torch.rand((batch, width, size, size), generator=generator) - 0.5
    weight = torch.rand((width, width, 3, 3), generator=generator) - 0.5
    dy = torch.rand((batch, width, size, size), generator=generator) - 0.5
    flop = 2 * batch * width * size * size * width * 9
    forward = timed(args, lambda: torch.nn.functional.conv2d(x, weight, padding=1))
    input_grad = timed(args, lambda: torch.nn.grad.conv2d_input(x.shape, weight, dy, padding=1))
    weight_grad = timed(args, lambda: torch.nn.grad.conv2d_weight(x, weight.shape, dy, padding=1))
    gflops = lambda ms: flop / (statistics.median(ms) * 1e6)  # noqa: E731
    return {
        "input": [batch, width, size, size],
        "out_channels": width,
        "flop": flop,
        "forward_gflops": gflops(forward),
        "input_gradient_gflops": gflops(input_grad),
        "weight_gradient_gflops": gflops(weight_grad),
    }


def sgemm_throughput(n, args):
    a = torch.rand((n, n), generator=torch.Generator().manual_seed(4))
    best = math.inf
    for _ in range(max(args.warmup, 1) + args.steps):
        started = time.perf_counter()
        torch.mm(a, a)
        best = min(best, time.perf_counter() - started)
    return {"n": n, "best_gflops": 2.0 * n**3 / (best * 1e9)}


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def bench(preset, args):
    args.preset_name = preset
    size = PRESETS[preset]["size"]
    channels = 1
    d = channels * size * size
    generator = torch.Generator().manual_seed(1)
    images = torch.rand((image_count(preset, args.batch, d), channels, size, size), generator=generator)
    energy = build(preset, images)
    parameters = unet.num_parameters(energy)
    if not args.json:
        print(f"bench: {preset}, {parameters} parameters, batch {args.batch} of "
              f"{channels}x{size}x{size}, PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
    train = train_step_times(energy, images, args, generator)

    for p in energy.parameters():
        p.requires_grad_(False)
    y = torch.rand((args.batch, channels, size, size), generator=torch.Generator().manual_seed(7))
    t = log_uniform_t(args.batch, torch.Generator().manual_seed(8))
    zero = torch.zeros(args.batch)

    def score():
        yy = y.detach().requires_grad_(True)
        tt = t.detach().requires_grad_(True)
        u = energy(yy, tt)
        torch.autograd.grad(u.sum(), (yy, tt))

    def logp():
        with torch.no_grad():
            energy(y, zero)

    score_times = timed(args, score)
    logp_times = timed(args, logp)
    conv = conv_throughput(args.batch, PRESETS[preset]["base_width"], size, args)
    sgemm = [sgemm_throughput(n, args) for n in args.sgemm]
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {
        "setup": {
            "preset": preset,
            "batch": args.batch,
            "image_shape": [channels, size, size],
            "parameters": parameters,
            "backend": f"pytorch {torch.__version__} ({torch.get_num_threads()} threads, "
                       f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'default')})",
            "cpu": cpu_model(),
            "warmup": args.warmup,
            "steps": args.steps,
        },
        "train_step_ms": statistics.median(train),
        "score_ms": statistics.median(score_times),
        "logp_ms": statistics.median(logp_times),
        "peak_rss_mib": peak_rss,
        "conv": conv,
        "sgemm": sgemm,
    }


def print_table(r):
    conv = r["conv"]
    n, c, h, w = conv["input"]
    layer = f"{n}x{c}x{h}x{w} -> {conv['out_channels']} channels"
    lines = [
        "| measure | value |",
        "| --- | ---: |",
        f"| training step (ms) | {r['train_step_ms']:.1f} |",
        f"| score, first order (ms) | {r['score_ms']:.1f} |",
        f"| log p, t = 0 (ms) | {r['logp_ms']:.1f} |",
        f"| peak resident memory (MiB) | {r['peak_rss_mib']:.0f} |",
        f"| conv 3x3 {layer}: forward (GFLOP/s) | {conv['forward_gflops']:.1f} |",
        f"| conv 3x3 {layer}: input gradient (GFLOP/s) | {conv['input_gradient_gflops']:.1f} |",
        f"| conv 3x3 {layer}: weight gradient (GFLOP/s) | {conv['weight_gradient_gflops']:.1f} |",
    ]
    lines += [f"| sgemm n = {s['n']} best (GFLOP/s) | {s['best_gflops']:.1f} |" for s in r["sgemm"]]
    print("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", "--preset", default="small,mid",
                        help="comma-separated: small, mid, paper, fast")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--sgemm", default="1024,2048", help="sides of the square products")
    parser.add_argument("--json", action="store_true", help="print only the JSON lines")
    args = parser.parse_args()
    args.sgemm = [int(n) for n in args.sgemm.split(",") if n]
    torch.set_num_threads(args.threads)
    for preset in args.presets.split(","):
        if preset not in PRESETS:
            parser.error(f"unknown preset '{preset}' ({', '.join(PRESETS)})")
        result = bench(preset, args)
        if not args.json:
            print_table(result)
        print(json.dumps({"command": "bench", "result": result}))


if __name__ == "__main__":
    main()
