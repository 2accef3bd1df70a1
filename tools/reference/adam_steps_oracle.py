"""Oracle data for 50 training steps of the small UNet energy: PyTorch Adam on the dual score
matching loss in float64, for examples/tests/adam_steps_oracle.rs.

The model is the small preset (grayscale, 2 scales, base width 16, 2 layers per block, GELU,
203,808 parameters) inside the paper's inner-product energy U = 1/2 <y, s(y, t)>
(tools/reference/unet.py, parameter names as in the authors' code, under `network.`), with
PyTorch's own seeded default initialization. Each of the 50 steps takes a batch of 4 images
1x16x16, one noise variance t per image (log-uniform in [1e-9, 1e3]) and standard normal noise z,
computes the dual loss (unet.dual_loss), its gradient, and one torch.optim.Adam update (lr 5e-4,
betas (0.9, 0.999), eps 1e-8).

The images are smooth random images in [0, 1], made here (no data files needed): white noise
blurred with a periodic Gaussian of random width, mapped to a random sub-interval of [0, 1].

Writes examples/tests/data/adam_steps_oracle.safetensors with

- `init.<name>`  the initial parameters (float32 values, exact in float64: PyTorch trains from them),
- `x` [50, 4, 1, 16, 16], `z` [50, 4, 1, 16, 16] (float32 values, used exactly), `t` [50, 4]
  (float64): the stream, one row per step,
- `loss` [50]: the loss of each step's batch before that step's update (float64),
- `final.<name>` the parameters after the 50 updates (float64).

Run from the repository root:  /usr/bin/python3 tools/reference/adam_steps_oracle.py
"""

import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import safetensors_io  # noqa: E402
import unet  # noqa: E402

torch.set_default_dtype(torch.float64)

STEPS = 50
BATCH = 4
SIZE = 16
T_MIN, T_MAX = 1e-9, 1e3
LR = 5e-4
BETAS = (0.9, 0.999)
EPS = 1e-8
PATH = os.path.join("examples", "tests", "data", "adam_steps_oracle.safetensors")


def smooth_images(generator, count):
    """`count` smooth images [count, 1, SIZE, SIZE] in [0, 1], rounded to float32 values."""
    noise = torch.randn((count, SIZE, SIZE), generator=generator)
    freq = torch.fft.fftfreq(SIZE)
    k2 = freq[:, None] ** 2 + freq[None, :] ** 2
    width = 1.0 + 2.0 * torch.rand((count, 1, 1), generator=generator)  # blur std, pixels
    transfer = torch.exp(-2.0 * (np.pi**2) * width**2 * k2[None])
    smooth = torch.fft.ifft2(torch.fft.fft2(noise) * transfer).real
    lo = smooth.amin(dim=(1, 2), keepdim=True)
    hi = smooth.amax(dim=(1, 2), keepdim=True)
    unit = (smooth - lo) / (hi - lo)
    contrast = 0.3 + 0.7 * torch.rand((count, 1, 1), generator=generator)
    offset = (1.0 - contrast) * torch.rand((count, 1, 1), generator=generator)
    images = offset + contrast * unit
    return images.clamp(0.0, 1.0).float().double()[:, None]


def main():
    torch.manual_seed(20260401)
    generator = torch.Generator().manual_seed(41)
    network = unet.UNet(image_channels=1, scales=2, base_width=16, layers_per_block=2, activation="gelu")
    energy = unet.InnerProductEnergy(network)
    with torch.no_grad():
        for p in energy.parameters():
            p.copy_(p.float().double())
    init = {f"init.{n}": p.detach().numpy().astype(np.float32) for n, p in energy.named_parameters()}

    x = smooth_images(generator, STEPS * BATCH).reshape(STEPS, BATCH, 1, SIZE, SIZE)
    u = torch.rand((STEPS, BATCH), generator=generator)
    t = T_MIN * torch.exp(u * np.log(T_MAX / T_MIN))
    z = torch.randn((STEPS, BATCH, 1, SIZE, SIZE), generator=generator).float().double()

    optimizer = torch.optim.Adam(energy.parameters(), lr=LR, betas=BETAS, eps=EPS)
    losses = []
    started = time.time()
    for step in range(STEPS):
        optimizer.zero_grad(set_to_none=True)
        loss = unet.dual_loss(energy, x[step], t[step], z[step])[0]
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step % 10 == 0 or step == STEPS - 1:
            print(f"step {step + 1}: loss {loss.item():.17g}")
    print(f"{STEPS} steps in {time.time() - started:.1f} s")

    out = dict(init)
    out.update({f"final.{n}": p.detach().numpy() for n, p in energy.named_parameters()})
    out.update({
        "x": x.numpy().astype(np.float32),
        "z": z.numpy().astype(np.float32),
        "t": t.numpy(),
        "loss": np.array(losses),
    })
    meta = {
        "torch": torch.__version__,
        "script": "tools/reference/adam_steps_oracle.py",
        "lr": LR,
        "betas": BETAS,
        "eps": EPS,
    }
    safetensors_io.save(PATH, out, meta)
    print(f"wrote {PATH} ({os.path.getsize(PATH)} bytes)")


if __name__ == "__main__":
    main()
