"""The import test's oracle, computed from the authors' checkpoint file itself: not from the
converter's output, so a converter that renamed, swapped or altered tensors would be caught.

    /work/torchvenv/bin/python tools/reference/authors_oracle.py \
        cli/tests/data/authors_tiny.pth.tar cli/tests/data/authors_tiny_oracle.safetensors

reads the `.pth.tar` with `torch.load(weights_only=True)` (only tensors, plain containers,
`argparse.Namespace` and a stand-in for `__main__.PerformanceInfo` are allowed), builds the
network that the run's arguments describe in a module laid out like the authors' code
(FlorentinGuth/DualScoreMatching: `UNet` of networks/unet.py, whose modules are a
`NoiseVarEmbedding`, then `encoder` (a list of blocks), `middle_block`, `decoder`, each block a
sequence conv, `Normalization`, activation per layer, inside the `network` attribute of the
energy wrapper), loads the checkpoint's `state_dict` into it by name and strictly, checks that
its parameter names come in the checkpoint's order, and evaluates in float64:

    x          four 16x16 images in [0, 1] (a ramp, a blob, a checkerboard, noise)
    t          [0.01, 0.25, 4]
    y          y[k] = x + sqrt(t[k]) z[k], z standard normal (seeded)
    energy_x   U(x, 0)
    energy_y   energy_y[k] = U(y[k], t[k])

with U = 1/2 <y, network(y, t)>, the authors' inner-product reparameterization. This module is
written for this check from the description of the authors' architecture; it shares no code with
tools/reference/unet.py (which made the fixture's random weights) or with
tools/reference/import_authors.py (the converter under test).

`--check-conversion FILE` also runs the converter on the `.pth.tar` and checks that it writes
FILE's bytes (the committed conversion). `cli/tests/import_pth.rs` checks the same without
PyTorch: every tensor of the `.pth.tar`, read by name, against the committed file.
"""

import argparse
import ast
import math
import os
import sys
import tempfile

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402  (a plain safetensors writer, no conversion logic)


DEFAULT_SEED = 20261207


class PerformanceInfo:
    """Stands for `__main__.PerformanceInfo` of the authors' main.py: its state is kept, unused."""


# ---- the authors' layout -------------------------------------------------------------------


class NoiseVarEmbedding(nn.Module):
    """Fourier features of t on log-spaced frequencies 1/t_min ... 1/t_max (cosines, then sines),
    then Linear, SiLU, Linear, SiLU: the `time_embed` sequence of the authors' module."""

    def __init__(self, fourier_dim, time_embed_dim, t_min, t_max):
        super().__init__()
        half = fourier_dim // 2
        steps = torch.arange(half, dtype=torch.float64) / (half - 1)
        self.log_frequencies = -(math.log(t_min) + steps * (math.log(t_max) - math.log(t_min)))
        self.time_embed = nn.Sequential(
            nn.Linear(fourier_dim, time_embed_dim),
            nn.SiLU(),
            nn.Linear(time_embed_dim, time_embed_dim),
            nn.SiLU(),
        )

    def forward(self, t):
        phase = t[:, None] * torch.exp(self.log_frequencies).to(t.dtype)[None, :]
        return self.time_embed(torch.cat((phase.cos(), phase.sin()), dim=1))


class Normalization(nn.Module):
    """The authors' normalization with input statistics, homogeneous: per sample and group,
    center, divide by the standard deviation, and multiply by the root of the mean of the
    groups' variances (the input's global scale is kept); then the gain `weight` and the
    conditioning factor `1 + conditioning_embedding(emb)`."""

    def __init__(self, num_channels, conditioning_channels, group_size, eps):
        super().__init__()
        self.num_groups = num_channels // group_size
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.conditioning_embedding = nn.Linear(conditioning_channels, num_channels)

    def forward(self, x, emb):
        b, c, h, w = x.shape
        g = x.reshape(b, self.num_groups, c // self.num_groups, h, w)
        mean = g.mean(dim=(2, 3, 4), keepdim=True)
        scale = ((g - mean) ** 2).mean(dim=(2, 3, 4), keepdim=True)
        factor = torch.sqrt(scale.mean(dim=1, keepdim=True) / (scale + self.eps) + self.eps)
        out = ((g - mean) * factor).reshape(b, c, h, w) * self.weight[:, None, None]
        return out * (1 + self.conditioning_embedding(emb))[:, :, None, None]


class ConditionalSequential(nn.Sequential):
    """Layers in order; a `Normalization` also gets the time embedding."""

    def forward(self, x, emb):
        for layer in self:
            x = layer(x, emb) if isinstance(layer, Normalization) else layer(x)
        return x


class UNet(nn.Module):
    """The authors' UNet: blocks of `layers` (conv, normalization, activation) per scale; an
    encoder block at scale s > 0 starts with a 2x2 stride-2 convolution, a decoder block at scale
    s > 0 ends with a 2x2 stride-2 transposed convolution, the middle block does both, and the
    last layer of decoder block 0 is a bare 3x3 convolution back to the image's channels."""

    def __init__(self, channels, num_scales, base_width, encoder_layers, middle_layers,
                 decoder_layers, group_size, eps, fourier_dim, time_embed_dim, t_min, t_max,
                 activation):
        super().__init__()
        self.num_scales = num_scales
        self.noise_var_embedding = NoiseVarEmbedding(fourier_dim, time_embed_dim, t_min, t_max)
        width = [channels]  # the running channel count

        def layer(layers, cout, conv):
            layers += [conv, Normalization(cout, time_embed_dim, group_size, eps), activation()]
            width[0] = cout

        def block(layers_count, scale, down, up):
            layers = []
            for i in range(layers_count):
                cin = width[0]
                if up and scale == 0 and i == layers_count - 1:
                    layers.append(nn.Conv2d(cin, channels, 3, padding=1, bias=False))
                    width[0] = channels
                elif down and scale > 0 and i == 0:
                    cout = base_width * 2**scale
                    layer(layers, cout, nn.Conv2d(cin, cout, 2, stride=2, bias=False))
                elif up and scale > 0 and i == layers_count - 1:
                    cout = base_width * 2 ** (scale - 1)
                    layer(layers, cout, nn.ConvTranspose2d(cin, cout, 2, stride=2, bias=False))
                else:
                    cout = base_width * 2**scale
                    layer(layers, cout, nn.Conv2d(cin, cout, 3, padding=1, bias=False))
            return ConditionalSequential(*layers)

        self.encoder = nn.ModuleList([block(encoder_layers, s, True, False) for s in range(num_scales)])
        self.middle_block = block(middle_layers, num_scales, True, True)
        decoder = {}
        for s in reversed(range(num_scales)):
            width[0] *= 2  # the skip connection is concatenated
            decoder[s] = block(decoder_layers, s, False, True)
        self.decoder = nn.ModuleList([decoder[s] for s in range(num_scales)])

    def forward(self, y, t):
        emb = self.noise_var_embedding(t)
        skips, x = [], y
        for block in self.encoder:
            x = block(x, emb)
            skips.append(x)
        x = self.middle_block(x, emb)
        for s in reversed(range(self.num_scales)):
            x = self.decoder[s](torch.cat((x, skips[s]), dim=1), emb)
        return x


class InnerProductEnergy(nn.Module):
    """The authors' `Reparameterization` with conversion 'inner_product': U = <y, network(y)> / 2."""

    def __init__(self, network):
        super().__init__()
        self.network = network

    def forward(self, y, t):
        return 0.5 * (y * self.network(y, t)).flatten(1).sum(dim=1)


# ---- reading the checkpoint ----------------------------------------------------------------


def read_checkpoint(path):
    allowed = [argparse.Namespace, (PerformanceInfo, "__main__.PerformanceInfo")]
    with torch.serialization.safe_globals(allowed):
        return torch.load(path, map_location="cpu", weights_only=True)


def psnr_variance(level):
    """A noise level `dict(x=..., unit='psnr')` of main.py as a variance (images in [0, 1])."""
    if level["unit"] != "psnr":
        raise SystemExit(f"this oracle handles noise levels in psnr only, not {level!r}")
    return 10.0 ** (-float(level["x"]) / 10.0)


def network_of(checkpoint):
    """The network the run's arguments describe, with the embedding sizes of the state_dict."""
    args = checkpoint["args"]
    kwargs = ast.literal_eval(args.network_kwargs)
    state = checkpoint["state_dict"]
    first = state["network.noise_var_embedding.time_embed.0.weight"]
    if args.embed_noise_level_in_range:
        t_min, t_max = psnr_variance(args.min_noise_level), psnr_variance(args.max_noise_level)
    else:
        t_min, t_max = 1.0, 100.0
    return UNet(
        channels=1 if args.grayscale else 3,
        num_scales=kwargs.get("num_scales", 3),
        base_width=kwargs.get("base_width", 64),
        encoder_layers=kwargs.get("num_layers_encoder_block", 2),
        middle_layers=kwargs.get("num_layers_mid_block", 2),
        decoder_layers=kwargs.get("num_layers_decoder_block", 2),
        group_size=kwargs.get("group_size", 8),
        eps=1e-5,
        fourier_dim=first.shape[1],
        time_embed_dim=first.shape[0],
        t_min=t_min,
        t_max=t_max,
        activation=nn.GELU,
    )


def load_energy(path):
    checkpoint = read_checkpoint(path)
    if ast.literal_eval(checkpoint["args"].reparam_kwargs).get("conversion") != "inner_product":
        raise SystemExit("this oracle handles the inner-product energy only")
    energy = InnerProductEnergy(network_of(checkpoint)).double()
    state = checkpoint["state_dict"]
    ours = list(energy.state_dict().keys())
    if ours != list(state.keys()):
        missing = [k for k in ours if k not in state]
        extra = [k for k in state if k not in ours]
        raise SystemExit(f"the layout differs from the checkpoint's: missing {missing}, extra {extra}, "
                         "or another order")
    energy.load_state_dict({k: v.double() for k, v in state.items()}, strict=True)
    energy.eval()
    return energy, state


# ---- the oracle ----------------------------------------------------------------------------


def images(generator, size=16):
    """A ramp, a Gaussian blob, a checkerboard of 2x2 squares and uniform noise, in [0, 1]."""
    r, c = torch.meshgrid(torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64),
                          indexing="ij")
    ramp = (2 * r + c) / (3 * (size - 1))
    blob = 0.1 + 0.8 * torch.exp(-((r - 6.5) ** 2 + (c - 9.0) ** 2) / 12.0)
    checker = 0.25 + 0.5 * ((r // 2 + c // 2) % 2)
    noise = torch.rand((size, size), generator=generator, dtype=torch.float64)
    return torch.stack([ramp, blob, checker, noise])[:, None]


def write_oracle(pth, out, seed):
    energy, state = load_energy(pth)
    generator = torch.Generator().manual_seed(seed)
    x = images(generator)
    ts = torch.tensor([0.01, 0.25, 4.0], dtype=torch.float64)
    z = torch.randn((len(ts),) + tuple(x.shape), generator=generator, dtype=torch.float64)
    y = x[None] + ts.sqrt()[:, None, None, None, None] * z
    with torch.no_grad():
        energy_x = energy(x, torch.zeros(len(x), dtype=torch.float64))
        energy_y = torch.stack([energy(y[k], ts[k].expand(len(x))) for k in range(len(ts))])
        single = energy.float()
        e32 = single(x.float(), torch.zeros(len(x))).double()
    oracle = {"x": x.numpy(), "t": ts.numpy(), "y": y.numpy(),
              "energy_x": energy_x.numpy(), "energy_y": energy_y.numpy()}
    safetensors_io.save(out, oracle, {"torch": torch.__version__, "script": "tools/reference/authors_oracle.py",
                                      "checkpoint": os.path.basename(pth), "seed": str(seed)})
    print(f"{pth}: {len(state)} tensors loaded by name into the authors' layout, strictly and in order")
    print(f"wrote {out}")
    print(f"U(x, 0)  = {energy_x.tolist()}")
    for k in range(len(ts)):
        print(f"U(y, {ts[k].item():g}) = {energy_y[k].tolist()}")
    rel = ((e32 - energy_x).abs() / energy_x.abs().max()).max().item()
    print(f"PyTorch float32 vs float64, U(x, 0): largest difference {rel:.3g} of the largest |U|")


def check_conversion(pth, committed):
    import import_authors  # the converter under test

    with tempfile.TemporaryDirectory() as tmp:
        fresh = os.path.join(tmp, "converted.safetensors")
        options = argparse.Namespace(args_json=None, image_size=None, t_min=None, t_max=None,
                                     allow_unsupported=False)
        import_authors.convert(pth, fresh, options)
        with open(fresh, "rb") as f, open(committed, "rb") as g:
            same = f.read() == g.read()
    if not same:
        raise SystemExit(f"converting {pth} does not give the bytes of {committed}")
    print(f"converting {pth} gives the bytes of {committed}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="the authors' model.pth.tar (the test fixture)")
    parser.add_argument("output", help="the oracle .safetensors file to write")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the noise images and z")
    parser.add_argument("--check-conversion", metavar="FILE",
                        help="also check that the converter turns the checkpoint into FILE's bytes")
    options = parser.parse_args()
    write_oracle(options.checkpoint, options.output, options.seed)
    if options.check_conversion:
        check_conversion(options.checkpoint, options.check_conversion)


if __name__ == "__main__":
    main()
