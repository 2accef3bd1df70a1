"""Training-curve comparison with the Rust implementation (examples/06_compare_with_reference.rs).

Two commands:

  make-eval   writes the held-out evaluation set both implementations read: 64 fixed 16x16 test
              patches (pixel / 255), the authors' 17 noise levels (PSNR -30 .. 90 dB in steps of
              7.5, t = 10^(-PSNR/10)) and fixed standard normal noise z for every (image, level):
              a safetensors file with x [64, 1, 16, 16] (F32), t [17] (F64), psnr_db [17] (F64),
              z [64, 17, 1, 16, 16] (F32). Evaluation pair k = 17 i + j is image i at level j.
  train       trains the small preset UNet (GELU) inside the paper's inner-product energy by dual
              score matching in float32, from PyTorch's own seeded initialization, on the 16x16
              training patches, and writes a CSV of (seed, step, held-out loss, dsm, tsm, seconds).

The training patches are the 32x32 patches of natural_gray_p32_s16_train.npy cut into four
16x16 ones (patch 4 i + q is quadrant q = 2 r + c of 32x32 patch i), pixel / 255. Each step takes
the next `batch` patches of a per-epoch random permutation, flips each horizontally with
probability 1/2, draws one t per image log-uniform in [1e-9, 1e3] and z ~ N(0, I), and makes one
torch.optim.Adam step (betas (0.9, 0.999), eps 1e-8, constant learning rate) on the dual loss
(tools/reference/unet.py). The held-out loss is the mean over the 64 x 17 evaluation pairs of
dsm + tsm, the derivatives computed in float32 and the terms summed in float64.

Run from the repository root, e.g.
  /usr/bin/python3 tools/reference/train_compare.py make-eval \\
      --test ../shared/data/natural_gray_p32_s16_test.npy --out eval_set.safetensors
  /usr/bin/python3 tools/reference/train_compare.py train \\
      --train ../shared/data/natural_gray_p32_s16_train.npy --eval eval_set.safetensors \\
      --seeds 0 1 2 3 4 --steps 2000 --out pytorch.csv
"""

import argparse
import os
import sys
import time

# Idle OpenMP threads sleep instead of spinning: on a machine shared with other jobs, spinning
# threads made a 2-thread step 5 to 20 times slower than a 1-thread one.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
import safetensors_io  # noqa: E402
import unet  # noqa: E402

PSNRS_DB = [-30.0 + 7.5 * k for k in range(17)]
T_MIN, T_MAX = 1e-9, 1e3


def patches16(path):
    """The 32x32 uint8 patches of `path` cut into four 16x16 each, as float32 pixel / 255,
    shape [4 N, 1, 16, 16]; patch 4 i + 2 r + c is rows 16 r.., columns 16 c.. of patch i."""
    big = np.load(path)
    n = big.shape[0]
    quads = big.reshape(n, 2, 16, 2, 16).transpose(0, 1, 3, 2, 4).reshape(4 * n, 1, 16, 16)
    return quads.astype(np.float32) / np.float32(255.0)


def make_eval(args):
    rng = np.random.default_rng(args.seed)
    test = patches16(args.test)
    index = np.sort(rng.choice(test.shape[0], size=args.images, replace=False))
    x = test[index]
    z = rng.standard_normal((args.images, len(PSNRS_DB), 1, 16, 16)).astype(np.float32)
    psnr = np.array(PSNRS_DB)
    t = 10.0 ** (-psnr / 10.0)
    meta = {"script": "tools/reference/train_compare.py make-eval", "test": os.path.basename(args.test),
            "seed": args.seed, "indices": ",".join(str(i) for i in index)}
    safetensors_io.save(args.out, {"x": x, "z": z, "t": t, "psnr_db": psnr}, meta)
    print(f"wrote {args.out}: {args.images} images x {len(psnr)} levels")


def small_energy():
    network = unet.UNet(image_channels=1, scales=2, base_width=16, layers_per_block=2, activation="gelu")
    return unet.InnerProductEnergy(network)


def evaluation_pairs(path):
    e = safetensors_io.load(path)
    x, z, t = e["x"], e["z"], e["t"]
    n, levels = z.shape[0], z.shape[1]
    xs = torch.from_numpy(np.repeat(x, levels, axis=0).copy())  # [n * levels, 1, 16, 16]
    zs = torch.from_numpy(z.reshape(n * levels, 1, 16, 16).copy())
    ts64 = np.tile(t, n)
    return xs, zs, ts64


def held_out_loss(energy, xs, zs, ts64, chunk):
    """Mean dsm + tsm over the evaluation pairs (float32 derivatives, float64 sums)."""
    d = xs[0].numel()
    dsm_all, tsm_all = [], []
    for start in range(0, xs.shape[0], chunk):
        x = xs[start:start + chunk]
        z = zs[start:start + chunk]
        t64 = ts64[start:start + chunk]
        t = torch.from_numpy(t64.astype(np.float32))
        y = (x + t.sqrt()[:, None, None, None] * z).requires_grad_(True)
        t_leaf = t.clone().requires_grad_(True)
        u = energy(y, t_leaf)
        grad_y, grad_t = torch.autograd.grad(u.sum(), (y, t_leaf))
        gy, gt, z64 = grad_y.double(), grad_t.double(), z.double()
        tt = torch.from_numpy(t64)
        dsm = ((tt.sqrt()[:, None, None, None] * gy - z64) ** 2).sum(dim=(1, 2, 3)) / d
        target = (1.0 - (z64**2).sum(dim=(1, 2, 3)) / d) / 2.0
        tsm = (target - tt / d * gt) ** 2
        dsm_all.append(dsm)
        tsm_all.append(tsm)
    dsm = torch.cat(dsm_all)
    tsm = torch.cat(tsm_all)
    return (dsm + tsm).mean().item(), dsm.mean().item(), tsm.mean().item()


def train(args):
    torch.set_num_threads(args.threads)
    torch.set_default_dtype(torch.float32)
    data = torch.from_numpy(patches16(args.train))
    count = data.shape[0]
    xs, zs, ts64 = evaluation_pairs(args.eval)
    print(f"{count} training patches 16x16, {xs.shape[0]} evaluation pairs, {args.threads} threads",
          flush=True)
    new_file = not os.path.exists(args.out)
    out = open(args.out, "a")
    if new_file:
        out.write("implementation,seed,step,heldout_loss,heldout_dsm,heldout_tsm,elapsed_s\n")
    log_ratio = np.log(T_MAX / T_MIN)
    for seed in args.seeds:
        torch.manual_seed(seed)
        energy = small_energy()
        generator = torch.Generator().manual_seed(1_000_003 + seed)
        optimizer = torch.optim.Adam(energy.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
        started = time.time()
        order, position = torch.randperm(count, generator=generator), 0

        def record(step):
            loss, dsm, tsm = held_out_loss(energy, xs, zs, ts64, args.eval_chunk)
            elapsed = time.time() - started
            out.write(f"pytorch,{seed},{step},{loss:.10g},{dsm:.10g},{tsm:.10g},{elapsed:.2f}\n")
            out.flush()
            print(f"seed {seed} step {step}: held-out loss {loss:.6f} (dsm {dsm:.6f}, tsm {tsm:.6f}) "
                  f"{elapsed:.0f} s", flush=True)

        record(0)
        for step in range(1, args.steps + 1):
            if position + args.batch > count:
                order, position = torch.randperm(count, generator=generator), 0
            x = data[order[position:position + args.batch]]
            position += args.batch
            if args.flips:
                flip = torch.rand(args.batch, generator=generator) < 0.5
                x = torch.where(flip[:, None, None, None], x.flip(3), x)
            u = torch.rand(args.batch, generator=generator, dtype=torch.float64)
            t = (T_MIN * torch.exp(u * log_ratio)).float()
            z = torch.randn(x.shape, generator=generator)
            optimizer.zero_grad(set_to_none=True)
            loss = unet.dual_loss(energy, x, t, z)[0]
            loss.backward()
            optimizer.step()
            if step % args.eval_every == 0:
                record(step)
        print(f"seed {seed}: {args.steps} steps in {time.time() - started:.0f} s", flush=True)
    out.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    e = sub.add_parser("make-eval", help="write the held-out evaluation set")
    e.add_argument("--test", required=True, help="natural_gray_p32_s16_test.npy")
    e.add_argument("--out", required=True)
    e.add_argument("--images", type=int, default=64)
    e.add_argument("--seed", type=int, default=20260402)
    e.set_defaults(func=make_eval)
    t = sub.add_parser("train", help="train and write held-out losses")
    t.add_argument("--train", required=True, help="natural_gray_p32_s16_train.npy")
    t.add_argument("--eval", required=True, help="the file of make-eval")
    t.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    t.add_argument("--steps", type=int, default=2000)
    t.add_argument("--batch", type=int, default=32)
    t.add_argument("--lr", type=float, default=5e-4)
    t.add_argument("--eval-every", type=int, default=200)
    t.add_argument("--eval-chunk", type=int, default=136)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--no-flips", dest="flips", action="store_false")
    t.add_argument("--out", required=True, help="CSV, appended to")
    t.set_defaults(func=train)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
