"""Independent oracle for second-order autodiff: a small bias-free conv energy and the dual score
matching loss (docs/METHOD.md section 3), computed by PyTorch in float64.

    U(y, t) = 1/2 <y, f(y, t)>   per image
    f: conv3x3 (1 -> C) * time gain (1 + e(t)), GELU; + SiLU(dilated conv3x3); conv2x2 stride 2
       (C -> 2C), ReLU; ConvTranspose2x2 stride 2 (2C -> C); concat with the skip; conv3x3 (2C -> 1)
    e(t) = Linear(emb(t)), emb(t) = [cos(t f_k), sin(t f_k)], f_k = 1, 0.1, 0.01

Writes the weights, x, t, z, the energies, grad_y U, dU/dt, the loss and the gradient of the loss
with respect to every parameter to core/tests/data/conv_energy_oracle.safetensors.

Run from the repository root:  python3 tools/reference/conv_energy_oracle.py
"""

import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
import safetensors_io  # noqa: E402

torch.set_default_dtype(torch.float64)
FREQUENCIES = torch.tensor([1.0, 0.1, 0.01])
C = 3


def embed(t):
    angles = t[:, None] * FREQUENCIES[None, :]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)


def network(p, y, t):
    gain = 1.0 + embed(t) @ p["time.weight"].T + p["time.bias"]
    h = F.conv2d(y, p["conv1.weight"], padding=1) * gain[:, :, None, None]
    h = F.gelu(h)
    h = h + F.silu(F.conv2d(h, p["dilated.weight"], padding=2, dilation=2))
    down = F.relu(F.conv2d(h, p["down.weight"], stride=2))
    up = F.conv_transpose2d(down, p["up.weight"], stride=2)
    return F.conv2d(torch.cat([up, h], dim=1), p["out.weight"], padding=1)


def energy(p, y, t):
    return 0.5 * (y * network(p, y, t)).sum(dim=(1, 2, 3))


def dual_loss(p, x, t, z):
    d = x[0].numel()
    y = (x + t.sqrt()[:, None, None, None] * z).detach().requires_grad_(True)
    t_leaf = t.detach().requires_grad_(True)
    u = energy(p, y, t_leaf)
    grad_y, grad_t = torch.autograd.grad(u.sum(), (y, t_leaf), create_graph=True)
    dsm = ((t.sqrt()[:, None, None, None] * grad_y - z) ** 2).sum(dim=(1, 2, 3)) / d
    target = (1.0 - (z**2).sum(dim=(1, 2, 3)) / d) / 2.0
    tsm = (target - t / d * grad_t) ** 2
    return (dsm + tsm).mean(), u, grad_y, grad_t, dsm, tsm


def main():
    rng = np.random.default_rng(20261129)
    shapes = {
        "conv1.weight": (C, 1, 3, 3),
        "time.weight": (C, 2 * len(FREQUENCIES)),
        "time.bias": (C,),
        "dilated.weight": (C, C, 3, 3),
        "down.weight": (2 * C, C, 2, 2),
        "up.weight": (2 * C, C, 2, 2),
        "out.weight": (1, 2 * C, 3, 3),
    }
    params = {}
    for name, shape in shapes.items():
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        params[name] = torch.tensor(rng.normal(size=shape) / np.sqrt(fan_in), requires_grad=True)
    batch, size = 4, 8
    x = torch.tensor(rng.uniform(size=(batch, 1, size, size)))
    t = torch.tensor(10.0 ** rng.uniform(-4, 2, size=batch))
    z = torch.tensor(rng.normal(size=(batch, 1, size, size)))

    loss, u, grad_y, grad_t, dsm, tsm = dual_loss(params, x, t, z)
    names = sorted(params)
    grads = torch.autograd.grad(loss, [params[n] for n in names])

    out = {f"param.{n}": params[n].detach().numpy() for n in names}
    out.update({f"grad.{n}": g.numpy() for n, g in zip(names, grads)})
    out.update(
        {
            "x": x.numpy(),
            "t": t.numpy(),
            "z": z.numpy(),
            "energy": u.detach().numpy(),
            "grad_y": grad_y.detach().numpy(),
            "grad_t": grad_t.detach().numpy(),
            "dsm": dsm.detach().numpy(),
            "tsm": tsm.detach().numpy(),
            "loss": loss.detach().numpy().reshape(1),
        }
    )
    path = os.path.join("core", "tests", "data", "conv_energy_oracle.safetensors")
    safetensors_io.save(path, out, {"torch": torch.__version__, "script": "tools/reference/conv_energy_oracle.py"})
    print(f"wrote {path}: loss {loss.item():.17g}")


if __name__ == "__main__":
    main()
