"""Float64 PyTorch reference of the paper's UNet, the inner-product energy and the dual score
matching loss (docs/METHOD.md sections 2, 3 and 7).

Parameter names are those of the authors' code (FlorentinGuth/DualScoreMatching,
networks/unet.py, networks/normalization.py, networks/conditioning.py), so the state_dict of
`UNet` has exactly their keys:

    noise_var_embedding.time_embed.{0,2}.{weight,bias}       Linear(64, 256), Linear(256, 256)
    encoder.<s>.<3l>.weight                                   conv of layer l of encoder block s
    encoder.<s>.<3l+1>.weight                                 normalization gain g_c
    encoder.<s>.<3l+1>.conditioning_embedding.{weight,bias}   Linear(256, C) giving e_c(t)
    middle_block.<...>, decoder.<s>.<...>                     the same pattern

and `InnerProductEnergy` holds the UNet as `network`, like their `Reparameterization` wrapper, so
the `state_dict` saved in their checkpoints (`network.` + the keys above) loads into it unchanged
(with the faithful options: no centering, no time offset).

This is an independent implementation written from the description, not the authors' code: it
keeps only what their released configuration uses (group size 1, input statistics, homogeneous
normalization, no conditioning shift).
"""

import math

import torch
from torch import nn
import torch.nn.functional as F

ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU}


class Normalization(nn.Module):
    """Per-sample, per-channel normalization that keeps the global scale of its input:
    out_c = (x_c - m_c) * sqrt(mean_c'(v_c') / (v_c + eps) + eps) * g_c * (1 + e_c(t))."""

    def __init__(self, channels, conditioning_channels, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.conditioning_embedding = nn.Linear(conditioning_channels, channels)

    def forward(self, x, embedding):
        centered = x - x.mean(dim=(2, 3), keepdim=True)
        var = (centered**2).mean(dim=(2, 3), keepdim=True)
        factor = torch.sqrt(var.mean(dim=1, keepdim=True) / (var + self.eps) + self.eps)
        gain = 1.0 + self.conditioning_embedding(embedding)
        return centered * factor * self.weight[None, :, None, None] * gain[:, :, None, None]


class NoiseVarEmbedding(nn.Module):
    """emb(t) = [cos(t f_k), sin(t f_k)], f_k = exp(-linspace(ln t_min, ln t_max, F)), then
    Linear + SiLU + Linear + SiLU. The frequencies are not parameters (not in the state_dict)."""

    def __init__(self, frequencies=32, width=256, t_min=1.0, t_max=100.0):
        super().__init__()
        self.frequencies = torch.exp(
            -torch.linspace(math.log(t_min), math.log(t_max), frequencies, dtype=torch.float64)
        )
        self.time_embed = nn.Sequential(
            nn.Linear(2 * frequencies, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU()
        )

    def forward(self, t):
        angles = t[:, None] * self.frequencies.to(t.dtype)[None, :]
        return self.time_embed(torch.cat([torch.cos(angles), torch.sin(angles)], dim=1))


class Block(nn.ModuleList):
    """Layers applied in order; normalizations also receive the time embedding. Indices follow
    the authors' ConditionalSequential: conv at 3l, normalization at 3l + 1, activation at 3l + 2."""

    def forward(self, x, embedding):
        for layer in self:
            x = layer(x, embedding) if isinstance(layer, Normalization) else layer(x)
        return x


class UNet(nn.Module):
    """The bias-free UNet of core/src/nn/unet.rs (see its module documentation)."""

    def __init__(self, image_channels=1, scales=3, base_width=64, layers_per_block=3,
                 activation="gelu", norm_eps=1e-5, embedding_frequencies=32, embedding_width=256,
                 embedding_t_min=1.0, embedding_t_max=100.0):
        super().__init__()
        if layers_per_block < 2:
            raise ValueError("a block needs at least 2 layers")
        self.scales = scales
        self.noise_var_embedding = NoiseVarEmbedding(
            embedding_frequencies, embedding_width, embedding_t_min, embedding_t_max
        )
        act = ACTIVATIONS[activation]
        self.channels = image_channels

        def block(scale, down, up):
            layers = []
            for layer in range(layers_per_block):
                last = layer == layers_per_block - 1
                cin = self.channels
                if up and scale == 0 and last:
                    layers.append(nn.Conv2d(cin, image_channels, 3, padding=1, bias=False))
                    self.channels = image_channels
                    continue
                if down and scale > 0 and layer == 0:
                    cout = base_width * 2**scale
                    layers.append(nn.Conv2d(cin, cout, 2, stride=2, bias=False))
                elif up and scale > 0 and last:
                    cout = base_width * 2 ** (scale - 1)
                    layers.append(nn.ConvTranspose2d(cin, cout, 2, stride=2, bias=False))
                else:
                    cout = base_width * 2**scale
                    layers.append(nn.Conv2d(cin, cout, 3, padding=1, bias=False))
                self.channels = cout
                layers.append(Normalization(cout, embedding_width, norm_eps))
                layers.append(act())
            return Block(layers)

        self.encoder = nn.ModuleList([block(s, True, False) for s in range(scales)])
        self.middle_block = block(scales, True, True)
        decoder = [None] * scales
        for s in reversed(range(scales)):
            self.channels *= 2  # concatenation with the skip connection
            decoder[s] = block(s, False, True)
        self.decoder = nn.ModuleList(decoder)

    def forward(self, y, t):
        embedding = self.noise_var_embedding(t)
        x = y
        skips = []
        for s in range(self.scales):
            x = self.encoder[s](x, embedding)
            skips.append(x)
        x = self.middle_block(x, embedding)
        for s in reversed(range(self.scales)):
            x = self.decoder[s](torch.cat([x, skips[s]], dim=1), embedding)
        return x


class InnerProductEnergy(nn.Module):
    """U(y, t) = 1/2 <y - mu, s(y - mu, t)> + b(t), summed over pixels per sample.

    mean (mu): None (faithful) or a tensor broadcast against [N, C, H, W] (not a parameter).
    time_offset: None (faithful) or (hidden_width, hidden_layers, activation, t0), giving
    b(t) = d * MLP(log(t + t0)), the MLP an nn.Sequential Linear(1, h), act, ..., Linear(h, 1,
    bias=False): a constant in U is invisible to the loss (it sees only derivatives of U), so the
    last layer has no bias.
    """

    def __init__(self, network, mean=None, time_offset=None):
        super().__init__()
        self.network = network
        self.mean = mean
        if time_offset is not None:
            width, hidden, activation, t0 = time_offset
            layers = [nn.Linear(1, width), ACTIVATIONS[activation]()]
            for _ in range(hidden - 1):
                layers += [nn.Linear(width, width), ACTIVATIONS[activation]()]
            layers.append(nn.Linear(width, 1, bias=False))
            self.time_offset = nn.Sequential(*layers)
            self.t0 = t0
        else:
            self.time_offset = None

    def forward(self, y, t):
        if self.mean is not None:
            y = y - self.mean
        u = 0.5 * (y * self.network(y, t)).sum(dim=tuple(range(1, y.dim())))
        if self.time_offset is not None:
            d = y[0].numel()
            u = u + d * self.time_offset(torch.log(t + self.t0)[:, None])[:, 0]
        return u


def dual_loss(energy, x, t, z):
    """The dual score matching loss (docs/METHOD.md section 3) with targets from z, and its parts."""
    d = x[0].numel()
    sqrt_t = t.sqrt()[:, None, None, None]
    y = (x + sqrt_t * z).detach().requires_grad_(True)
    t_leaf = t.detach().requires_grad_(True)
    u = energy(y, t_leaf)
    grad_y, grad_t = torch.autograd.grad(u.sum(), (y, t_leaf), create_graph=True)
    dsm = ((sqrt_t * grad_y - z) ** 2).sum(dim=(1, 2, 3)) / d
    target = (1.0 - (z**2).sum(dim=(1, 2, 3)) / d) / 2.0
    tsm = (target - t / d * grad_t) ** 2
    return (dsm + tsm).mean(), u, grad_y, grad_t, dsm, tsm


def num_parameters(module):
    return sum(p.numel() for p in module.parameters())


if __name__ == "__main__":
    for name, kwargs in {
        "small": dict(scales=2, base_width=16, layers_per_block=2),
        "mid": dict(scales=3, base_width=32, layers_per_block=2),
        "paper": dict(scales=3, base_width=64, layers_per_block=3),
    }.items():
        print(name, num_parameters(UNet(**kwargs)))
