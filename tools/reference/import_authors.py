"""Converts a checkpoint of the authors' code (FlorentinGuth/DualScoreMatching, `main.py`) into a
safetensors file that `dualscore import` turns into a dualscore checkpoint folder.

    /usr/bin/python3 tools/reference/import_authors.py models/<name>/model.pth.tar model.safetensors
    dualscore import model.safetensors --out <folder>

What the authors' checkpoints hold
----------------------------------
`main.py` (`save_checkpoint`) writes `models/<name>/model.pth.tar` (and copies `model_best.pth.tar`,
`model_step<N>.pth.tar`) with `torch.save` of the dict

    step        the number of training steps
    args        the argparse.Namespace of the run (also in models/<name>/args.json)
    state_dict  ctx.network.state_dict(): the `Reparameterization` wrapper without DataParallel,
                so every key is `network.` + a key of their `UNet` (networks/unet.py)
    train_perf, test_perf   `__main__.PerformanceInfo` objects (loss, noise levels, errors)

The optimizer state is not saved. This script reads such a file on the CPU without the authors'
code: classes it cannot or should not import (`PerformanceInfo`, `NoiseLevel`, `DatasetInfo`,
...) are replaced by inert placeholders, and nothing but PyTorch's tensor rebuilding and a few
plain containers is executed while unpickling. It also accepts a bare state_dict, and keys with
DataParallel's `module.` anywhere in them or with another prefix before the UNet's modules.

What it writes
--------------
A safetensors file with one float32 tensor per parameter, named as in dualscore's
`InnerProduct` energy of a `UNet` (core/src/nn/unet.rs): `network.` + the authors' UNet key, which
is also the key in their checkpoints. Metadata (JSON strings):

    dualscore.unet_config   what the run's arguments say about the architecture, with
                            dualscore's field names (UNetConfig): scales, base_width,
                            layers_per_block, activation, norm_eps, embedding_t_min,
                            embedding_t_max, image_size, image_channels (only the fields the
                            arguments determine; the import infers the rest from the shapes
                            and checks these against them)
    dualscore.unsupported   options of the run that dualscore's UNet does not implement (group
                            normalization with groups > 1, batch statistics, a denoiser rather
                            than an energy model, another reparameterization, ...); the import
                            refuses a file that lists any. Conversion stops on them unless
                            --allow-unsupported is given (to inspect the file).
    dualscore.source        provenance: input file name, step, dataset, the raw network and
                            reparameterization arguments, test loss when stored
    dualscore.notes         what the conversion did that is worth knowing (dropped buffers,
                            stripped prefixes, values rounded to float32)

Without the run's arguments (a bare state_dict and no --args-json), no `dualscore.unet_config`
is written: the import then takes the activation, norm eps, embedding range and image size from
UNetConfig::paper() and says so.

Test fixture
------------
`--make-fixture DIR` writes the small files of cli/tests/import.rs: a seeded random UNet of
tools/reference/unet.py (1 channel, 2 scales, base width 8, 2 layers per block, GELU, a time
embedding shrunk to 8 frequencies and width 16 to keep the files small, embedding range
[0.01, 10] given through the run arguments as the authors' --embed-noise-level-in-range does)
saved with torch.save in the authors' layout (authors_tiny.pth.tar), its conversion by this
script (authors_tiny.safetensors), and authors_tiny_oracle.safetensors: PyTorch's float64 energies
of four 16x16 images and of noisy versions at three t, computed from the .pth.tar itself by
tools/reference/authors_oracle.py (an independent module laid out like the authors' code).
Regenerate with

    /usr/bin/python3 tools/reference/import_authors.py --make-fixture cli/tests/data

`--self-test` checks the key normalization and the safe argument parser.
"""

import argparse
import ast
import collections
import io
import json
import math
import os
import pickle
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

# The top-level modules of the authors' UNet (networks/unet.py).
ROOTS = ("noise_var_embedding", "encoder", "middle_block", "decoder")
PREFIX = "network."

# ---- reading a checkpoint without the authors' code ----------------------------------------


class Placeholder:
    """Stands for an object of a class that is not imported: keeps its constructor arguments and
    its state, runs nothing."""

    _qualified_name = "?"

    def __init__(self, *args, **kwargs):
        self._args = args
        self._kwargs = kwargs

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], (dict, type(None))):
            state, slots = state
            if slots:
                self.__dict__.update(slots)
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self._state = state

    def __repr__(self):
        return f"<placeholder {self._qualified_name}>"


_PLACEHOLDERS = {}


def placeholder(module, name):
    key = f"{module}.{name}"
    if key not in _PLACEHOLDERS:
        _PLACEHOLDERS[key] = type(name, (Placeholder,), {"_qualified_name": key})
    return _PLACEHOLDERS[key]


# What unpickling may really construct: containers, argparse's Namespace, torch's tensor and
# storage rebuilding, dtypes, numpy scalars and arrays. Everything else becomes a placeholder.
_ALLOWED = {
    ("collections", "OrderedDict"),
    ("collections", "defaultdict"),
    ("argparse", "Namespace"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "slice"),
    ("builtins", "complex"),
    ("builtins", "range"),
    ("pathlib", "PosixPath"),
    ("pathlib", "WindowsPath"),
    ("pathlib", "Path"),
    ("torch", "Size"),
    ("torch", "device"),
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy.core.multiarray", "_reconstruct"),
}


class SafeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        if module == "torch._utils" and name.startswith("_rebuild_"):
            return super().find_class(module, name)
        if module == "torch" and (name.endswith("Storage") or isinstance(getattr(torch, name, None), torch.dtype)):
            return super().find_class(module, name)
        if module in ("torch.storage", "torch._tensor") and name in ("TypedStorage", "UntypedStorage", "_load_from_bytes"):
            return super().find_class(module, name)
        if module == "torch.nn.parameter" and name == "Parameter":
            return super().find_class(module, name)
        return placeholder(module, name)


class SafePickleModule:
    """What torch.load needs of a pickle module."""

    Unpickler = SafeUnpickler
    UnpicklingError = pickle.UnpicklingError
    load = staticmethod(lambda f, **kw: SafeUnpickler(f, **kw).load())


def load_checkpoint(path):
    """torch.load on the CPU with SafeUnpickler. Some PyTorch builds (Debian's 1.13.0a0) ignore
    torch.load's pickle_module and always use the module `pickle` of torch.serialization, so that
    name is pointed at SafePickleModule during the call as well."""
    import torch.serialization as serialization

    saved = serialization.pickle
    serialization.pickle = SafePickleModule
    try:
        return torch.load(path, map_location="cpu", pickle_module=SafePickleModule)
    except (OSError, RuntimeError, pickle.UnpicklingError, EOFError, ValueError, KeyError) as e:
        raise SystemExit(f"{path}: not a readable PyTorch checkpoint ({type(e).__name__}: {e})")
    finally:
        serialization.pickle = saved


def get(obj, name, default=None):
    """An attribute of an argparse.Namespace, a placeholder or a dict."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


# ---- the run's arguments -------------------------------------------------------------------

_NAMES = {
    "True": True, "False": False, "None": None,
    "ReLU": "relu", "GELU": "gelu", "SiLU": "silu", "Normalization": "Normalization",
}


def literal(text):
    """Evaluates the authors' keyword-argument expressions (`--network-kwargs` and friends,
    evaluated with eval() by main.py) without eval: dict displays, dict(...) calls, constants,
    tuples and lists, unary minus, simple arithmetic, and the names ReLU, GELU, SiLU (as
    "relu", "gelu", "silu"), also as nn.ReLU. Anything else raises ValueError."""

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Dict):
            return {ev(k): ev(v) for k, v in zip(node.keys, node.values)}
        if isinstance(node, (ast.Tuple, ast.List)):
            return [ev(e) for e in node.elts]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
            if node.args:
                raise ValueError("dict() with positional arguments")
            return {k.arg: ev(k.value) for k in node.keywords}
        if isinstance(node, ast.Name) and node.id in _NAMES:
            return _NAMES[node.id]
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "nn" and node.attr in _NAMES:
            return _NAMES[node.attr]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = ev(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)):
            a, b = ev(node.left), ev(node.right)
            if not all(isinstance(v, (int, float)) for v in (a, b)):
                raise ValueError("arithmetic on non-numbers")
            return {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b, ast.Div: a / b if b else math.inf,
                    ast.Pow: a**b}[type(node.op)]
        raise ValueError(f"cannot read {ast.dump(node)}")

    if text is None:
        return {}
    if isinstance(text, dict):
        return dict(text)
    return ev(ast.parse(str(text), mode="eval"))


def noise_variance(level):
    """A noise level argument of main.py (dict(x=..., unit=...)) as a variance, when the unit does
    not need the data set's statistics; None otherwise."""
    if isinstance(level, str):
        unit, _, value = level.partition("=")
        level = dict(unit=unit, x=float(value))
    unit, x = get(level, "unit"), get(level, "x")
    if x is None:
        return None
    x = float(x)
    return {"psnr": 10.0 ** (-x / 10.0), "mse": x, "var": x, "std": x * x}.get(unit)


# Default spatial size and channels (color) of the authors' named data sets (data.py).
DATASETS = {"ImageNet64": 64, "ImageNet32": 32, "CIFAR10": 32}


def describe_run(args, overrides):
    """From the run's arguments: (partial unet_config, unsupported options, notes, source)."""
    config, unsupported, notes = {}, [], []
    source = {}
    if args is None:
        return None, unsupported, notes, source
    for key in ("name", "dataset", "grayscale", "spatial_size", "network", "model", "network_kwargs",
                "reparam_kwargs", "model_kwargs", "embed_noise_level_in_range", "min_noise_level",
                "max_noise_level", "noise_covariance", "lr", "num_training_steps"):
        value = get(args, key)
        if value is not None:
            source[key] = value if isinstance(value, (str, int, float, bool, dict, list)) else str(value)

    network = get(args, "network", "UNet")
    if network != "UNet":
        unsupported.append(f"network {network!r}: only the UNet is implemented")
    model = get(args, "model")
    if model is not None and model != "EnergyModel":
        unsupported.append(f"model {model!r}: a denoiser's output is an image estimate, not a score; only EnergyModel "
                           "checkpoints hold an energy U = <y, f(y, t)> / 2")
    if get(args, "noise_covariance") is not None:
        notes.append(f"the run used colored noise (noise_covariance {get(args, 'noise_covariance')!r}); dualscore "
                     "assumes white noise of variance t")

    try:
        kwargs = literal(get(args, "network_kwargs", "dict()"))
    except (ValueError, SyntaxError) as e:
        unsupported.append(f"network_kwargs {get(args, 'network_kwargs')!r} could not be read ({e})")
        kwargs = {}
    try:
        reparam = literal(get(args, "reparam_kwargs", "dict()"))
    except (ValueError, SyntaxError) as e:
        unsupported.append(f"reparam_kwargs {get(args, 'reparam_kwargs')!r} could not be read ({e})")
        reparam = {"conversion": "inner_product"}
    try:
        model_kwargs = literal(get(args, "model_kwargs", "dict()"))
    except (ValueError, SyntaxError):
        model_kwargs = {"?": "unreadable"}
    if model_kwargs:
        unsupported.append(f"model_kwargs {model_kwargs!r}")

    # The energy: U = <y, f(y, t)> / 2 and nothing else (networks/model.py, Reparameterization).
    if reparam.get("conversion") != "inner_product":
        unsupported.append(f"reparameterization conversion {reparam.get('conversion')!r}: only 'inner_product' is implemented")
    for key, default in (("input_scaling", None), ("output_scaling", None), ("residual", False),
                         ("final_scaling", None), ("additive_normalization", False), ("edm_like", False)):
        if key in reparam and reparam[key] not in (default, 0 if default is None else default):
            unsupported.append(f"reparameterization {key}={reparam[key]!r}")
    for key in reparam:
        if key not in ("conversion", "input_scaling", "output_scaling", "residual", "final_scaling",
                       "additive_normalization", "edm_like"):
            unsupported.append(f"unknown reparameterization argument {key}={reparam[key]!r}")

    # The UNet (networks/unet.py) and its normalization (networks/normalization.py).
    known = {
        "num_scales": 3, "base_width": 64, "kernel_size": 3, "padding": 1, "homogeneous": True,
        "noise_conditioning": True, "t_min": 1, "t_max": 100,
        "num_layers_encoder_block": 2, "num_layers_mid_block": 2, "num_layers_decoder_block": 2,
        "non_linearity": "gelu", "normalization": "Normalization",
        "group_size": 8, "num_groups": None, "use_statistics": "input", "eps": 1e-5,
        "symmetric_eps": False, "normalize_by": "stddev", "center": True, "learnable": True,
        "conditioning_shift": False, "preserve_scale": False, "momentum": 0.9,
    }
    for key in kwargs:
        if key not in known:
            unsupported.append(f"unknown UNet argument {key}={kwargs[key]!r}")
    k = {**known, **kwargs}
    requirements = [
        ("kernel_size", 3), ("padding", 1), ("homogeneous", True), ("noise_conditioning", True),
        ("normalization", "Normalization"), ("use_statistics", "input"), ("symmetric_eps", False),
        ("normalize_by", "stddev"), ("center", True), ("learnable", True), ("num_groups", None),
    ]
    for key, wanted in requirements:
        if k[key] != wanted:
            unsupported.append(f"UNet {key}={k[key]!r} (dualscore implements {wanted!r})")
    if k["group_size"] not in (1, None):
        unsupported.append(f"normalization group_size={k['group_size']!r}"
                           + (" (the UNet's default when not given)" if "group_size" not in kwargs else "")
                           + ": dualscore implements group_size 1 (per-channel statistics), as in the paper's models")
    if k["non_linearity"] not in ("gelu", "relu", "silu"):
        unsupported.append(f"non_linearity {k['non_linearity']!r}")
    layers = {k["num_layers_encoder_block"], k["num_layers_mid_block"], k["num_layers_decoder_block"]}
    if len(layers) != 1:
        unsupported.append("blocks of different depths (encoder {}, middle {}, decoder {}): dualscore has one "
                           "layers_per_block".format(k["num_layers_encoder_block"], k["num_layers_mid_block"],
                                                      k["num_layers_decoder_block"]))
    else:
        config["layers_per_block"] = int(k["num_layers_encoder_block"])
    config["scales"] = int(k["num_scales"])
    config["base_width"] = int(k["base_width"])
    config["activation"] = k["non_linearity"]
    config["norm_eps"] = float(k["eps"])

    # The time embedding's range: the UNet's t_min/t_max, replaced by the training range of noise
    # variances with --embed-noise-level-in-range (main.py).
    t_min, t_max = float(k["t_min"]), float(k["t_max"])
    if get(args, "embed_noise_level_in_range", False):
        lo = noise_variance(get(args, "min_noise_level", dict(x=30, unit="psnr")))
        hi = noise_variance(get(args, "max_noise_level", dict(x=0, unit="psnr")))
        if lo is None or hi is None:
            if overrides.t_min is None or overrides.t_max is None:
                raise SystemExit("the run embeds its noise range, given in units that need the data set's statistics "
                                 f"({get(args, 'min_noise_level')}, {get(args, 'max_noise_level')}): pass --t-min and --t-max")
        else:
            t_min, t_max = lo, hi
            notes.append(f"embedding range from the run's noise range: t_min {t_min:g}, t_max {t_max:g}")
    config["embedding_t_min"] = t_min
    config["embedding_t_max"] = t_max

    dataset = get(args, "dataset")
    size = get(args, "spatial_size") or DATASETS.get(dataset) or (64 if dataset == "disks" else None)
    if size is not None:
        config["image_size"] = int(size)
    if dataset in DATASETS:
        config["image_channels"] = 1 if get(args, "grayscale", True) else 3
    elif dataset == "disks":
        config["image_channels"] = 1
    return config, unsupported, notes, source


# ---- the state_dict ------------------------------------------------------------------------


def canonical_state(state):
    """The state_dict's tensors under dualscore's names: DataParallel's `module.` removed, the
    prefix before the UNet's modules (`network.` in the authors' checkpoints) replaced by
    `network.`. Returns (tensors, dropped buffers, unknown keys, notes)."""
    out, unknown, notes = collections.OrderedDict(), [], []
    prefixes = set()
    stripped_module = False
    for key, value in state.items():
        parts = key.split(".")
        kept = [p for p in parts if p != "module"]
        stripped_module |= len(kept) != len(parts)
        root = next((i for i, p in enumerate(kept) if p in ROOTS), None)
        if root is None:
            unknown.append(key)
            out[key] = value
            continue
        prefixes.add(".".join(kept[:root]))
        name = PREFIX + ".".join(kept[root:])
        if name in out:
            raise SystemExit(f"two keys map to {name!r}")
        out[name] = value
    if len(prefixes) > 1:
        raise SystemExit(f"the keys have different prefixes before the UNet's modules: {sorted(prefixes)}")
    if stripped_module:
        notes.append("removed DataParallel's 'module.' from the keys")
    if prefixes and prefixes != {"network"}:
        notes.append(f"replaced the key prefix {next(iter(prefixes))!r} by 'network'")
    return out, unknown, notes


def embedding_range_from_buffer(name, value):
    """t_min and t_max of a stored frequency buffer f_k = exp(-linspace(ln t_min, ln t_max))."""
    f = value.double().flatten()
    if f.numel() < 2 or not bool((f > 0).all()):
        return None
    return 1.0 / f[0].item(), 1.0 / f[-1].item()


def convert_state(state):
    """float32 arrays under dualscore's names, plus (unsupported, notes, embedding range from a
    buffer or None)."""
    tensors, unknown, notes = canonical_state(state)
    unsupported, arrays, t_range = [], collections.OrderedDict(), None
    for name, value in tensors.items():
        if not isinstance(value, torch.Tensor):
            notes.append(f"dropped {name!r}: not a tensor ({type(value).__name__})")
            continue
        leaf = name.rsplit(".", 1)[-1]
        if name.startswith(PREFIX + "noise_var_embedding.") and not name.startswith(PREFIX + "noise_var_embedding.time_embed."):
            t_range = embedding_range_from_buffer(name, value)
            notes.append(f"dropped the buffer {name!r} (the embedding's frequencies are computed from t_min and t_max)")
            continue
        if leaf in ("running_scale", "running_mean"):
            unsupported.append(f"{name}: normalization with batch statistics (use_statistics='batch')")
        elif leaf == "num_batches_tracked" or not value.is_floating_point():
            notes.append(f"dropped the non-float tensor {name!r}")
            continue
        elif leaf == "bias" and not (".conditioning_embedding." in name or ".time_embed." in name):
            unsupported.append(f"{name}: a bias (non-homogeneous normalization or convolution)")
        if value.dtype not in (torch.float32,):
            exact = torch.equal(value.float().to(value.dtype), value)
            if not exact:
                notes.append(f"{name}: {value.dtype} rounded to float32")
        arrays[name] = value.detach().cpu().float().contiguous().numpy()
    for key in unknown:
        notes.append(f"kept {key!r} as is: not under the UNet's modules (the import will report it)")
    return arrays, unsupported, notes, t_range


# ---- conversion ----------------------------------------------------------------------------


def convert(input_path, output_path, options):
    checkpoint = load_checkpoint(input_path)
    args, step, test_perf = None, None, None
    if isinstance(checkpoint, dict) and "state_dict" in checkpoint:
        state = checkpoint["state_dict"]
        args, step, test_perf = checkpoint.get("args"), checkpoint.get("step"), checkpoint.get("test_perf")
    elif isinstance(checkpoint, dict) and checkpoint and all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        state = checkpoint
    else:
        kind = type(checkpoint).__name__
        keys = list(checkpoint)[:10] if isinstance(checkpoint, dict) else None
        raise SystemExit(f"{input_path}: neither the authors' checkpoint (a dict with 'state_dict') nor a state_dict "
                         f"({kind}{', keys ' + str(keys) if keys is not None else ''})")
    if not isinstance(state, dict):
        raise SystemExit(f"{input_path}: 'state_dict' is a {type(state).__name__}, not a dict")
    if options.args_json:
        with open(options.args_json) as f:
            args = json.load(f)

    arrays, unsupported, notes, t_range = convert_state(state)
    config, run_unsupported, run_notes, source = describe_run(args, options)
    unsupported += run_unsupported
    notes += run_notes
    if args is None:
        notes.append("no run arguments (a bare state_dict and no --args-json): the import takes what the shapes do "
                     "not fix from UNetConfig::paper()")
    if t_range is not None:
        if config is None:
            config = {}
        t_min, t_max = t_range
        if "embedding_t_min" in config and not (math.isclose(config["embedding_t_min"], t_min, rel_tol=1e-5)
                                                and math.isclose(config["embedding_t_max"], t_max, rel_tol=1e-5)):
            raise SystemExit(f"the stored frequencies give t in [{t_min:g}, {t_max:g}], the run arguments "
                             f"[{config['embedding_t_min']:g}, {config['embedding_t_max']:g}]")
        config["embedding_t_min"], config["embedding_t_max"] = t_min, t_max
    for field, value in (("image_size", options.image_size), ("embedding_t_min", options.t_min),
                         ("embedding_t_max", options.t_max)):
        if value is not None:
            config = config or {}
            notes.append(f"{field} {value:g} given on the command line")
            config[field] = value
    if unsupported and not options.allow_unsupported:
        raise SystemExit(f"{input_path}: the run uses what dualscore does not implement:\n  - "
                         + "\n  - ".join(unsupported)
                         + "\n(--allow-unsupported writes the file anyway, listing these; the import refuses it)")

    source.update({"file": os.path.basename(input_path), "format": "DualScoreMatching main.py checkpoint"
                   if args is not None or step is not None else "state_dict"})
    if step is not None:
        source["step"] = int(step)
    loss = get(test_perf, "loss")
    if isinstance(loss, (int, float)):
        source["test_loss"] = float(loss)
    metadata = {"dualscore.source": json.dumps(source, sort_keys=True, default=str),
                "dualscore.notes": json.dumps(notes)}
    if config is not None:
        metadata["dualscore.unet_config"] = json.dumps(config, sort_keys=True)
    if unsupported:
        metadata["dualscore.unsupported"] = json.dumps(unsupported)
    safetensors_io.save(output_path, arrays, metadata)
    count = sum(a.size for a in arrays.values())
    print(f"wrote {output_path}: {len(arrays)} tensors, {count:,} parameters")
    if config is not None:
        print(f"  architecture recorded: {json.dumps(config, sort_keys=True)}")
    for note in notes:
        print(f"  note: {note}")
    for item in unsupported:
        print(f"  UNSUPPORTED: {item}")
    return arrays, metadata


# ---- test fixture --------------------------------------------------------------------------


class PerformanceInfo:
    """Stands for the authors' `__main__.PerformanceInfo` (pickled as such when this script runs
    as __main__, so reading the fixture back exercises the placeholders)."""

    def __init__(self, loss):
        self.loss = loss
        self.noise_levels = None
        self.denoising_errors = None
        self.norm_errors = None
        self.log_normalization_constant = None
        self.cross_entropies = None


FIXTURE_CONFIG = dict(image_channels=1, scales=2, base_width=8, layers_per_block=2, activation="gelu",
                      norm_eps=1e-5, embedding_frequencies=8, embedding_width=16,
                      embedding_t_min=0.01, embedding_t_max=10.0)


def make_fixture(out_dir, seed):
    import unet  # tools/reference/unet.py

    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed + 1)
    network = unet.UNet(**FIXTURE_CONFIG).double()
    energy = unet.InnerProductEnergy(network)
    with torch.no_grad():
        for name, p in energy.named_parameters():
            if p.dim() == 1 and name.endswith(".weight"):  # normalization gains
                p.add_(0.25 * torch.randn(p.shape, generator=generator, dtype=torch.float64))
        # A larger output layer, so that U is of order 1 rather than 1e-2 at PyTorch's initialization.
        network.decoder[0][-1].weight.mul_(20.0)

    args = argparse.Namespace(
        name="fixture_tiny", dir="models", dataset="ImageNet64", data_subset="None", grayscale=True,
        horizontal_flip=True, spatial_size=16, noise_sampler="WhiteGaussianSampler()", noise_covariance=None,
        noise_level_sampler="UniformLog", min_noise_level=dict(x=20.0, unit="psnr"),
        max_noise_level=dict(x=-10.0, unit="psnr"), embed_noise_level_in_range=True, model="EnergyModel",
        model_kwargs="dict()", network="UNet",
        network_kwargs="{'num_scales':2,'base_width':8,'group_size':1,'num_layers_encoder_block':2,"
                       "'num_layers_mid_block':2,'num_layers_decoder_block':2}",
        reparam_kwargs="{'conversion':'inner_product'}", mse_var_exponent=-1.0, noise_score_var_exponent=0.0,
        train_noise_score=1.0, train_batch_size=128, num_workers=0, num_training_steps=1000, lr=0.0005,
        lr_decay_every=100, test_batch_size=32, num_testing_steps=100, test_every=1000, log_gradients=False, f=None,
    )
    state = collections.OrderedDict((k, v.float()) for k, v in energy.state_dict().items())
    checkpoint = dict(step=1000, args=args, state_dict=state, train_perf=PerformanceInfo(0.61),
                      test_perf=PerformanceInfo(0.63))
    pth = os.path.join(out_dir, "authors_tiny.pth.tar")
    torch.save(checkpoint, pth)
    print(f"wrote {pth}")

    converted = os.path.join(out_dir, "authors_tiny.safetensors")
    options = argparse.Namespace(args_json=None, image_size=None, t_min=None, t_max=None, allow_unsupported=False)
    arrays, _ = convert(pth, converted, options)

    # The oracle: energies computed from the .pth.tar itself (not from this conversion) by an
    # independent module laid out like the authors' code.
    import authors_oracle  # tools/reference/authors_oracle.py

    path = os.path.join(out_dir, "authors_tiny_oracle.safetensors")
    authors_oracle.write_oracle(pth, path, authors_oracle.DEFAULT_SEED)
    for name in (pth, converted, path):
        print(f"  {os.path.basename(name)}: {os.path.getsize(name):,} bytes")


# ---- self-test -----------------------------------------------------------------------------


def self_test():
    t = torch.zeros(2)
    for keys, expected_notes in [
        (["network.encoder.0.0.weight", "network.noise_var_embedding.time_embed.0.bias"], 0),
        (["module.network.encoder.0.0.weight", "module.network.decoder.1.3.weight"], 1),
        (["network.module.encoder.0.0.weight"], 1),
        (["encoder.0.0.weight", "middle_block.0.weight"], 1),
        (["model.net.encoder.0.0.weight"], 1),
    ]:
        out, unknown, notes = canonical_state({k: t for k in keys})
        assert all(k.startswith("network.") and ".module." not in k for k in out), out
        assert not unknown and len(notes) == expected_notes, (keys, notes)
    out, unknown, _ = canonical_state({"network.encoder.0.0.weight": t, "log_z": t})
    assert unknown == ["log_z"] and "log_z" in out
    assert literal("{'num_scales':3,'group_size':1}") == {"num_scales": 3, "group_size": 1}
    assert literal("dict(non_linearity=nn.ReLU, eps=1e-6, t_max=10**3)") == {"non_linearity": "relu", "eps": 1e-6, "t_max": 1000}
    for bad in ("__import__('os')", "open('x')", "{'a': print}", "(lambda: 1)()"):
        try:
            literal(bad)
        except ValueError:
            continue
        raise AssertionError(f"literal accepted {bad!r}")
    assert abs(noise_variance(dict(x=90, unit="psnr")) - 1e-9) < 1e-24
    assert noise_variance(dict(x=0.5, unit="std")) == 0.25 and noise_variance(dict(x=3, unit="snr")) is None
    # Plain containers load; a pickle that would run code if unpickled normally is inert here.
    buffer = io.BytesIO(pickle.dumps(collections.OrderedDict(a=1)))
    assert SafeUnpickler(buffer).load() == collections.OrderedDict(a=1)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo SHOULD NOT RUN",))

    loaded = SafeUnpickler(io.BytesIO(pickle.dumps(Evil()))).load()
    assert isinstance(loaded, Placeholder), loaded
    # Through torch.load: the class is replaced, the tensors are rebuilt.
    buffer = io.BytesIO()
    torch.save({"state_dict": {"network.encoder.0.0.weight": torch.ones(2, 1, 3, 3)}, "perf": Evil()}, buffer)
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"import_authors_self_test_{os.getpid()}.pth")
    with open(path, "wb") as f:
        f.write(buffer.getvalue())
    try:
        loaded = load_checkpoint(path)
    finally:
        os.remove(path)
    assert isinstance(loaded["perf"], Placeholder), loaded
    assert torch.equal(loaded["state_dict"]["network.encoder.0.0.weight"], torch.ones(2, 1, 3, 3))
    print("self-test passed")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\nWhat the authors'")[0],
        epilog="See the module docstring (python3 -c 'import sys; sys.path.insert(0, \"tools/reference\"); "
               "import import_authors; help(import_authors)') and docs/IMPORT.md for details.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("checkpoint", nargs="?", help="the authors' model.pth.tar (or a saved state_dict)")
    parser.add_argument("output", nargs="?", help="the .safetensors file to write")
    parser.add_argument("--args-json", help="the run's args.json, when the checkpoint has no 'args' (a bare state_dict)")
    parser.add_argument("--image-size", type=int, help="the nominal image size to record (default: from the run's "
                        "data set and --spatial-size, 64 for ImageNet64)")
    parser.add_argument("--t-min", type=float, help="the time embedding's t_min, when the run's arguments cannot give it")
    parser.add_argument("--t-max", type=float, help="the time embedding's t_max, when the run's arguments cannot give it")
    parser.add_argument("--allow-unsupported", action="store_true",
                        help="write the file even if the run uses options dualscore does not implement (listed "
                             "in its metadata; `dualscore import` refuses it)")
    parser.add_argument("--make-fixture", metavar="DIR",
                        help="write the test fixture of cli/tests/import.rs into DIR instead of converting")
    parser.add_argument("--seed", type=int, default=20260405, help="seed of --make-fixture (default %(default)s)")
    parser.add_argument("--self-test", action="store_true", help="run the script's own checks and exit")
    options = parser.parse_args()
    if options.self_test:
        self_test()
    elif options.make_fixture:
        make_fixture(options.make_fixture, options.seed)
    elif options.checkpoint and options.output:
        convert(options.checkpoint, options.output, options)
    else:
        parser.error("give CHECKPOINT and OUTPUT, or --make-fixture DIR, or --self-test")


if __name__ == "__main__":
    main()
