"""Oracle data for the UNet energy: the dual score matching loss and every derivative, computed by
PyTorch in float64 (tools/reference/unet.py), for core/tests/unet_oracle.rs.

Writes two files to core/tests/data/:

- unet_oracle_small.safetensors: the small preset (grayscale, 2 scales, base width 16, 2 layers
  per block, 203,808 parameters), faithful energy U = 1/2 <y, s(y, t)>, with GELU and with ReLU
  (the same weights): `param.<name>` (the authors' names), x, t, z, and per activation
  `<act>.energy`, `<act>.grad_y`, `<act>.grad_t`, `<act>.dsm`, `<act>.tsm`, `<act>.loss` and
  `<act>.grad.network.<name>` (the gradient of the loss with respect to every parameter, named
  as in the energy, whose `network.` prefix is also that of the authors' checkpoints).
- unet_oracle_options.safetensors: a tiny UNet (2 channels, width 4, embedding 4 frequencies and
  width 16) with ReLU and both options of docs/METHOD.md section 7: per-channel centering and the time
  offset b(t) (parameters `network.<name>` and `time_offset.<i>.<weight|bias>`).

The weights come from PyTorch's own seeded default initialization; the normalization gains and
the last time-offset layer are perturbed away from their initial values so every parameter is
exercised. Weights are rounded to float32 values (stored as F32, exact in float64) to keep the
files small; everything else is float64.

Run from the repository root:  /usr/bin/python3 tools/reference/unet_oracle.py
"""

import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import safetensors_io  # noqa: E402
import unet  # noqa: E402

torch.set_default_dtype(torch.float64)
DATA = os.path.join("core", "tests", "data")


def perturb_and_round(module, generator):
    """Normalization gains to 1 + 0.25 N(0, 1); every parameter rounded to a float32 value."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if isinstance(p, torch.nn.Parameter) and p.dim() == 1 and name.endswith(".weight"):
                p.add_(0.25 * torch.randn(p.shape, generator=generator))
            p.copy_(p.float().double())


def run(energy, x, t, z):
    names = [n for n, _ in energy.named_parameters()]
    params = [p for _, p in energy.named_parameters()]
    loss, u, grad_y, grad_t, dsm, tsm = unet.dual_loss(energy, x, t, z)
    grads = torch.autograd.grad(loss, params)
    out = {
        "energy": u.detach().numpy(),
        "grad_y": grad_y.detach().numpy(),
        "grad_t": grad_t.detach().numpy(),
        "dsm": dsm.detach().numpy(),
        "tsm": tsm.detach().numpy(),
        "loss": loss.detach().numpy().reshape(1),
    }
    out.update({f"grad.{n}": g.numpy() for n, g in zip(names, grads)})
    return out, loss.item()


def inputs(generator, shape):
    x = torch.rand(shape, generator=generator)
    t = 10.0 ** torch.linspace(-6.0, 2.0, shape[0])
    z = torch.randn(shape, generator=generator)
    return x, t, z


def small():
    torch.manual_seed(20260311)
    generator = torch.Generator().manual_seed(11)
    config = dict(image_channels=1, scales=2, base_width=16, layers_per_block=2)
    gelu = unet.UNet(activation="gelu", **config)
    perturb_and_round(gelu, generator)
    relu = unet.UNet(activation="relu", **config)
    relu.load_state_dict(gelu.state_dict())
    x, t, z = inputs(generator, (3, 1, 16, 16))

    out = {f"param.{n}": p.detach().numpy().astype(np.float32) for n, p in gelu.named_parameters()}
    out.update({"x": x.numpy(), "t": t.numpy(), "z": z.numpy()})
    for act, network in [("gelu", gelu), ("relu", relu)]:
        results, loss = run(unet.InnerProductEnergy(network), x, t, z)
        out.update({f"{act}.{k}": v for k, v in results.items()})
        print(f"small {act}: loss {loss:.17g}")
    path = os.path.join(DATA, "unet_oracle_small.safetensors")
    safetensors_io.save(path, out, {"torch": torch.__version__, "script": "tools/reference/unet_oracle.py"})
    print(f"wrote {path}")


def options():
    torch.manual_seed(20260312)
    generator = torch.Generator().manual_seed(12)
    network = unet.UNet(image_channels=2, scales=2, base_width=4, layers_per_block=2, activation="relu",
                        embedding_frequencies=4, embedding_width=16)
    mean = torch.tensor([0.45, 0.5])[None, :, None, None]
    energy = unet.InnerProductEnergy(network, mean=mean, time_offset=(8, 2, "gelu", 1e-9))
    perturb_and_round(energy, generator)
    with torch.no_grad():
        last = energy.time_offset[-1]
        last.weight.mul_(3.0)
        last.weight.copy_(last.weight.float().double())
    x, t, z = inputs(generator, (3, 2, 8, 8))
    out = {f"param.{n}": p.detach().numpy().astype(np.float32) for n, p in energy.named_parameters()}
    out.update({"x": x.numpy(), "t": t.numpy(), "z": z.numpy(), "mean": np.array([0.45, 0.5])})
    results, loss = run(energy, x, t, z)
    out.update(results)
    print(f"options: loss {loss:.17g}")
    path = os.path.join(DATA, "unet_oracle_options.safetensors")
    safetensors_io.save(path, out, {"torch": torch.__version__, "script": "tools/reference/unet_oracle.py"})
    print(f"wrote {path}")


if __name__ == "__main__":
    small()
    options()
