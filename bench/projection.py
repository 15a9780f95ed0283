"""2-D projection speed: our PCA, openTSNE and UMAP (workbench.embeddings) against scikit-learn's TSNE, in the same run.

Points (the same for every method):
  5,000   raw MNIST-5k pixels (784-d, scaled to [0, 1]): all 5,000 images, train and test
  50,000  shapes images (the generator of workbench.data.shapes, seed 2) through a fixed random
          Gaussian projection (seed 0) from 3,072 pixels to 128-d, the size of an embedding
Other sizes (--sizes) take that many shapes images the same way.

Ours are exactly what the app and `ssl-workbench export` run: workbench.embeddings.project
with "pca" (numpy), "tsne" (openTSNE, perplexity 30; input wider than 50 dims is scaled to unit
rows and reduced to 50 PCA dims first; below 10,000 points Barnes-Hut with theta 0.8, exact
neighbours, 125 + 250 iterations on one thread, above FFT, Annoy, 250 + 250 iterations on every
core: workbench.embeddings.tsne_settings) and "umap" (umap-learn: cosine, 15 neighbours, one thread, timed after warm_up_umap
so numba compiling is not in the figure). Baseline: sklearn.manifold.TSNE with the same
perplexity (30), metric (cosine) and 750 iterations (openTSNE's default 250 + 500; sklearn's own
default is 1,000), Barnes-Hut (theta 0.5), PCA init, on the raw input. At each size every method
runs with BLAS and OpenMP limited (threadpoolctl) to the thread count our t-SNE uses at that size
(one below 10,000 points, every core above), sklearn's TSNE with that many jobs. Ratio = sklearn
time ÷ method time (higher is faster). Imports are done before any clock starts. Wall and CPU
seconds are both printed: on a shared machine CPU seconds (all threads of this process) are
the steadier figure, and every method here runs on the same number of threads.

UMAP's first use is timed separately, each in a fresh process from `import workbench.embeddings`
to the end of warm_up_umap(): once with an empty NUMBA_CACHE_DIR (what a first launch pays),
then again with the cache that run filled (every later launch; umap-learn's own kernels are
not cacheable and still compile, pynndescent's load from the cache).

Trustworthiness (sklearn.manifold.trustworthiness, 5 neighbours, cosine on the input) of
every layout is printed beside its time, on the same random 5,000 points of each size (the
full pairwise matrix of 50k points would not fit in memory): a faster t-SNE must keep its
quality (goal: openTSNE within 0.01 of scikit-learn's, at >= 3x less CPU).

sklearn's TSNE on 50k points takes many minutes on a small machine; --skip-sklearn-above N
leaves it out above N points (its ratios are then not printed).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("pca", "tsne", "umap", "sklearn")
TITLES = {"pca": "PCA (ours, numpy)", "tsne": "openTSNE (ours)", "umap": "UMAP (ours)",
          "sklearn": "scikit-learn TSNE"}
PROJECTED_DIM = 128
_BLOCK = 5_000  # shapes images projected at a time (a 50k float copy would be 600 MB)


def points(n: int) -> tuple[str, np.ndarray]:
    """The n points and a description of them."""
    if n == 5_000:
        from workbench.data import load_dataset

        ds = load_dataset("mnist5k")
        x = np.concatenate([ds.x_train.numpy(), ds.x_test.numpy()]).reshape(n, -1)
        return "MNIST-5k raw pixels, 784-d", x.astype(np.float32) / 255
    from workbench.data.shapes import generate_shapes

    images, _ = generate_shapes(n, 2)
    flat = images.reshape(n, -1)
    w = np.random.default_rng(0).standard_normal((flat.shape[1], PROJECTED_DIM)).astype(np.float32)
    w /= np.sqrt(PROJECTED_DIM)
    out = np.empty((n, PROJECTED_DIM), dtype=np.float32)
    for start in range(0, n, _BLOCK):
        out[start : start + _BLOCK] = (flat[start : start + _BLOCK].astype(np.float32) / 255) @ w
    return f"shapes images, random projection to {PROJECTED_DIM}-d", out


def threads(n: int) -> int:
    from workbench.embeddings import tsne_settings

    return tsne_settings(n, 50)["n_jobs"]  # what our t-SNE uses for n points; sklearn gets the same


TRUST_POINTS = 5_000


def trust(x: np.ndarray, layout: np.ndarray) -> float:
    """Trustworthiness of a 2-D layout of x on a fixed sample of at most TRUST_POINTS rows."""
    from sklearn.manifold import trustworthiness

    pick = np.random.default_rng(0).permutation(len(x))[:TRUST_POINTS]
    return float(trustworthiness(x[pick], layout[pick], n_neighbors=5, metric="cosine"))


def timed(method: str, x: np.ndarray) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, trustworthiness) of one projection of x, BLAS and OpenMP
    held to threads(len(x))."""
    from threadpoolctl import threadpool_limits

    from workbench.embeddings import project

    # same threads for everyone; spare OpenMP threads spinning on a busy machine would
    # otherwise count against whoever happens to use OpenMP (sklearn's Barnes-Hut does)
    with threadpool_limits(limits=threads(len(x))), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0, c0 = time.perf_counter(), time.process_time()
        if method == "sklearn":
            from sklearn.manifold import TSNE

            layout = TSNE(n_components=2, perplexity=min(30.0, (len(x) - 1) / 3.0), metric="cosine",
                          init="pca", max_iter=750, random_state=0, n_jobs=threads(len(x))).fit_transform(x)
        else:
            layout = project(x, method, seed=0)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        return wall, cpu, trust(x, np.asarray(layout))


FIRST_USE = """
import json, time
t0, c0 = time.perf_counter(), time.process_time()
from workbench.embeddings import warm_up_umap
warm_up_umap()
print(json.dumps({"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}))
"""


def umap_first_use(cache_dir: Path) -> dict:
    """Wall and CPU seconds from importing workbench.embeddings to a finished warm_up_umap, in a fresh process."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir)}
    proc = subprocess.run([sys.executable, "-c", FIRST_USE], capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        sys.exit(f"UMAP first-use child failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def table(results: dict, sizes: list[int], methods: list[str], which: int, title: str) -> None:
    head = f"{title:20}" + "".join(f" | {f'{n:,} s':>9} | {'vs sklearn':>10}" for n in sizes)
    print(head)
    print("-" * len(head))
    for m in methods:
        row = f"{TITLES[m]:20}"
        for n in sizes:
            t, base = results[n].get(m), results[n].get("sklearn")
            t, base = (t[which] if t else None), (base[which] if base else None)
            ratio = f"{base / t:9.1f}×" if t and base else "—"
            row += f" | {'—' if t is None else f'{t:.2f}':>9} | {ratio:>10}"
        print(row)
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000,50000", help="comma-separated point counts (default 5000,50000)")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"subset of {','.join(METHODS)}")
    parser.add_argument("--skip-sklearn-above", type=int, default=None, metavar="N",
                        help="leave sklearn's TSNE out for more than N points (default: run it at every size)")
    parser.add_argument("--no-first-use", action="store_true", help="skip the UMAP first-use subprocesses")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in methods if m not in METHODS]
    if bad:
        parser.error(f"unknown method {', '.join(bad)}; choose from {', '.join(METHODS)}")

    first = {}
    if not args.no_first_use and "umap" in methods:
        with tempfile.TemporaryDirectory(prefix="bench-numba-") as cache:
            first["cold"] = umap_first_use(Path(cache))  # empty cache: fills it
            first["warm"] = min((umap_first_use(Path(cache)) for _ in range(2)), key=lambda r: r["wall"])

    # imports and numba compiling happen here, before any clock starts
    import openTSNE  # noqa: F401
    import pynndescent  # noqa: F401  (openTSNE imports it in every fit, to choose its approximate search)
    import sklearn.manifold  # noqa: F401

    from workbench.embeddings import warm_up_umap

    if "umap" in methods:
        warm_up_umap()
    print(f"{os.cpu_count()} CPUs; t-SNE threads " + ", ".join(f"{threads(n)} at {n:,}" for n in sizes)
          + f"; numpy {np.__version__}; load average {os.getloadavg()[0]:.1f}")
    results: dict[int, dict[str, float | None]] = {}
    for n in sizes:
        desc, x = points(n)
        print(f"{n:,} points: {desc}", flush=True)
        results[n] = {}
        for m in methods:
            if m == "sklearn" and args.skip_sklearn_above is not None and n > args.skip_sklearn_above:
                results[n][m] = None
                print(f"  {TITLES[m]:20} skipped (--skip-sklearn-above {args.skip_sklearn_above})", flush=True)
                continue
            results[n][m] = timed(m, x)
            print(f"  {TITLES[m]:20} {results[n][m][0]:8.2f} s wall {results[n][m][1]:8.2f} s CPU "
                  f"trustworthiness {results[n][m][2]:.4f} (load average {os.getloadavg()[0]:.1f})", flush=True)

    print()
    table(results, sizes, methods, 0, "wall time")
    table(results, sizes, methods, 1, "CPU time")
    print("vs sklearn = sklearn TSNE seconds ÷ this method's seconds on the same points (higher is faster)")
    for n in sizes:
        ours, base = results[n].get("tsne"), results[n].get("sklearn")
        if ours and base:
            print(f"t-SNE at {n:,} points: openTSNE {base[1] / ours[1]:.1f}× less CPU than scikit-learn "
                  f"(goal >= 3.0), trustworthiness {ours[2]:.4f} vs {base[2]:.4f} "
                  f"(difference {ours[2] - base[2]:+.4f}; goal within 0.01)")
    if first:
        cold, warm = first["cold"], first["warm"]
        print()
        print("UMAP first use in a fresh process (import + numba compile + tiny fit/transform):")
        print(f"  empty numba cache {cold['wall']:.1f} s wall / {cold['cpu']:.1f} s CPU · "
              f"warm cache {warm['wall']:.1f} s wall / {warm['cpu']:.1f} s CPU "
              f"({cold['cpu'] / warm['cpu']:.1f}× less CPU with the cache)")


if __name__ == "__main__":
    main()
