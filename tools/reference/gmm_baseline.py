"""The classical patch prior as a baseline: a Gaussian mixture with full covariances.

Fits scikit-learn's GaussianMixture(components, covariance_type="full", reg_covar=1e-6) on
`--fit-count` random 16x16 training patches and prints the test NLL in bits/dim by the program's
convention: 8 + mean(-log p(x)) / (d ln 2), pixels / 255, the continuous density, no
dequantization. With --dequantize, uniform noise of one grey level is added to both sets
(pixel + U(-1/2, 1/2), then / 255), so the mixture cannot live off the 8-bit grid.

Patches: the 32x32 patches of the .npy files cut into four 16x16 ones, as `dualscore --patch 16`.

Run (needs numpy and scikit-learn; one core, about 8 minutes for 20 components):
  python3 tools/reference/gmm_baseline.py \\
      --train ../shared/data/natural_gray_p32_s16_train.npy \\
      --test ../shared/data/natural_gray_p32_s16_test.npy
"""

import argparse
import math
import time

import numpy as np
from sklearn.mixture import GaussianMixture


def patches16(path):
    images = np.load(path)
    n, h, w = images.shape
    cut = images.reshape(n, h // 16, 16, w // 16, 16).transpose(0, 1, 3, 2, 4)
    return cut.reshape(-1, 16 * 16).astype(np.float64)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--components", type=int, default=20)
    parser.add_argument("--fit-count", type=int, default=30000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dequantize", action="store_true")
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    train = patches16(args.train)
    test = patches16(args.test)
    train = train[rng.choice(len(train), size=args.fit_count, replace=False)]
    if args.dequantize:
        train = train + rng.uniform(-0.5, 0.5, train.shape)
        test = test + rng.uniform(-0.5, 0.5, test.shape)
    train, test = train / 255.0, test / 255.0
    d = train.shape[1]

    started = time.time()
    gmm = GaussianMixture(
        args.components, covariance_type="full", reg_covar=1e-6, random_state=args.seed
    ).fit(train)
    seconds = time.time() - started
    neg_log_p = -gmm.score_samples(test)
    bits = 8 + neg_log_p / (d * math.log(2))
    print(
        f"GaussianMixture({args.components}, full, reg_covar=1e-6) on {len(train)} patches"
        f"{' (dequantized)' if args.dequantize else ''}: test NLL {bits.mean():.4f}"
        f" +- {bits.std(ddof=1) / math.sqrt(len(bits)):.4f} bits/dim on {len(test)} patches;"
        f" fit in {seconds:.0f} s"
    )


if __name__ == "__main__":
    main()
