"""A SIFT-like descriptor set built from images generated here (no download).

Images are random shapes over 1/f ("natural") noise and gratings; each gives dense DAISY
descriptors (scikit-image) with 3 rings x 5 histograms + centre, 8 orientations = 128-d, turned
into SIFT's form: L2-normalised, clipped at 0.2, renormalised, times 512, rounded and clipped to
uint8 range, after the weak orientations are dropped. So the vectors are non-negative, integer-valued, sparse and heavy-tailed like SIFT.
Queries come from images the base never saw. The set and its exact L2 top-100 are cached under
$QVEC_DATA_CACHE (default ~/.cache/qvec-data)/descriptors-daisy.

    python bench/descriptors.py          # builds (about a minute on 2 cores) and prints a summary
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

N_BASE = 50_000
N_QUERIES = 1_000
SEED = 20261202


def cache_dir() -> Path:
    root = Path(os.environ.get("QVEC_DATA_CACHE", Path.home() / ".cache" / "qvec-data"))
    return root / "descriptors-daisy"


def _image(rng: np.random.Generator, size: int = 192) -> np.ndarray:
    from skimage.draw import random_shapes
    from skimage.filters import gaussian

    # 1/f noise: white noise shaped in the Fourier domain, the spectrum of natural images.
    f = np.fft.fftfreq(size)
    radius = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    radius[0, 0] = 1.0
    spectrum = (rng.standard_normal((size, size)) + 1j * rng.standard_normal((size, size)))
    noise = np.real(np.fft.ifft2(spectrum / radius ** rng.uniform(0.8, 1.4)))
    noise = (noise - noise.min()) / (np.ptp(noise) + 1e-12)
    shapes, _ = random_shapes((size, size), max_shapes=int(rng.integers(3, 15)), min_size=8,
                              max_size=size // 2, channel_axis=None,
                              rng=int(rng.integers(1 << 31)), intensity_range=(0, 254))
    shapes = shapes.astype(np.float64) / 255.0
    yy, xx = np.mgrid[0:size, 0:size]
    angle, period = rng.uniform(0, np.pi), rng.uniform(4, 30)
    grating = 0.5 + 0.5 * np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
    w = rng.dirichlet([2.0, 2.0, 0.7])
    img = w[0] * noise + w[1] * shapes + w[2] * grating
    return gaussian(img, sigma=rng.uniform(0.0, 1.5))


def _descriptors(img: np.ndarray) -> np.ndarray:
    from skimage.feature import daisy

    desc = daisy(img, step=12, radius=15, rings=3, histograms=5, orientations=8,
                 normalization="off").reshape(-1, 128)
    # Weak orientations dropped (SIFT's histograms of flat regions are mostly empty bins).
    desc = np.maximum(desc - 0.7 * desc.mean(axis=1, keepdims=True), 0.0)
    desc = desc / (np.linalg.norm(desc, axis=1, keepdims=True) + 1e-12)
    desc = np.minimum(desc, 0.2)
    desc = desc / (np.linalg.norm(desc, axis=1, keepdims=True) + 1e-12)
    return np.clip(np.round(desc * 512.0), 0, 255).astype(np.float32)


def _collect(rng: np.random.Generator, count: int) -> np.ndarray:
    out, have = [], 0
    while have < count:
        d = _descriptors(_image(rng))
        d = d[d.sum(1) > 0]
        out.append(d)
        have += len(d)
    x = np.concatenate(out)
    return x[rng.permutation(len(x))[:count]]


def load() -> dict:
    """{"base", "queries", "gt", "metric"}; builds and caches the set on first use."""
    path = cache_dir()
    files = {name: path / f"{name}.npy" for name in ("base", "queries", "gt")}
    if not all(f.exists() for f in files.values()):
        import qvec

        rng = np.random.default_rng(SEED)
        base = np.ascontiguousarray(_collect(rng, N_BASE))
        queries = np.ascontiguousarray(_collect(rng, N_QUERIES))
        _, gt = qvec.exact_search(queries, base, 100)
        path.mkdir(parents=True, exist_ok=True)
        for name, arr in (("base", base), ("queries", queries), ("gt", gt)):
            np.save(path / f"{name}.tmp.npy", arr)
            os.replace(path / f"{name}.tmp.npy", files[name])
    return {"base": np.load(files["base"]), "queries": np.load(files["queries"]),
            "gt": np.load(files["gt"]), "metric": "l2"}


if __name__ == "__main__":
    ds = load()
    b = ds["base"]
    print(f"base {b.shape}, queries {ds['queries'].shape}; zeros {np.mean(b == 0):.2f}, "
          f"max {b.max():.0f}, mean {b.mean():.1f}", file=sys.stdout)
