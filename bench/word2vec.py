"""Our word2vec against gensim's Word2Vec: same text, same settings; word-similarity ρ and words/s, with ratios.

    python bench/word2vec.py                      # skip-gram on the Lee corpus, 5 epochs
    python bench/word2vec.py --mode cbow --epochs 20
    python bench/word2vec.py --corpus wiki        # gensim's bundled shortened Wikipedia (~410k words)
    python bench/word2vec.py --corpus my_text.txt

Both see the very same token stream: the dataset's corpus (words below min_count already
removed, documents kept apart, the documents ours holds out for its measure left out) is
handed to gensim as its sentences, with min_count=1 so it
keeps the same vocabulary. Both train single-threaded by default (gensim workers=1, torch
threads=1). Ours runs through the real trainer (a run directory in a temp folder, Adam with
a cosine schedule, batches of centre words); words/s counts running words × epochs over the
time spent in training epochs, for both. The random-init row is the floor: an untrained
model's vectors.

Speed is measured `--repeats` times (ours, then gensim, back to back; default 3): words/s are the medians
and `words_per_s_ratio` is the median of the repeats' own ratios, so a drift in the machine's speed hits
both sides of each ratio alike. The scores come from the first repeat.

Time to quality: gensim is also trained for 1, 2, … epochs (each a full run with its own
learning-rate decay, as a user would run it), then 2×, 4×, … as many until it reaches our ρ
(at most --max-gensim-epochs); the seconds it needs to reach the WordSim-353 ρ
ours ends with are interpolated on that curve, and `time_to_quality_ratio` is those seconds ÷
ours (≥ 1: ours gets there at least as fast). If gensim never reaches our ρ, the ratio is a lower
bound from its longest run (`gensim_reached_our_rho` false).
"""
from __future__ import annotations

import argparse
import bz2
import html
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.data import load_dataset  # noqa: E402
from workbench.data.text import gensim_datapath  # noqa: E402
from workbench.nn.text import HELD_OUT_EVERY, held_out_positions, training_counts  # noqa: E402
from workbench.wordsim import analogy_accuracy, similarity_scores  # noqa: E402

WIKI_DUMP = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"


def wiki_text(cache: Path) -> Path:
    """gensim's bundled shortened Wikipedia dump as plain text (markup stripped), made once."""
    if cache.is_file():
        return cache
    from gensim.corpora.wikicorpus import filter_wiki

    raw = bz2.open(gensim_datapath(WIKI_DUMP), "rt", encoding="utf-8").read()
    pages = [filter_wiki(html.unescape(t)) for t in re.findall(r"<text[^>]*>(.*?)</text>", raw, re.S)]
    cache.write_text("\n\n".join(p for p in pages if len(p.split()) > 50), encoding="utf-8")
    return cache


def sentences(spec) -> list[list[str]]:
    """The text ours trains on as gensim sentences: one list of words per document, without the
    documents our word2vec holds out for its measure (every 10th), so both read the same words."""
    vocab, docs, current = spec.vocab, [], []
    for t in spec.corpus.tolist():
        if t < 0:
            docs.append(current)
            current = []
        else:
            current.append(vocab[t])
    docs.append(current)
    return [d for i, d in enumerate(docs) if i % HELD_OUT_EVERY != HELD_OUT_EVERY - 1]


def scores(vectors: np.ndarray, vocab: list[str], analogies: bool) -> dict:
    out = {}
    for name, r in similarity_scores(vectors, vocab).items():
        out[name] = r.rho
        out[f"{name}_pairs"] = r.found
    if analogies:
        a = analogy_accuracy(vectors, vocab)
        out["analogy"], out["analogy_questions"] = a.accuracy, a.found
    return out


def word_counts(spec) -> dict[str, int]:
    """Ours' counts for subsampling and noise words, as gensim's vocabulary: each word's count in
    the text it trains on, one for a word seen only in the held-out documents (so both keep the
    whole vocabulary, and such a word keeps its untrained vector in both)."""
    counts = training_counts(np.asarray(spec.corpus, dtype=np.int64), len(spec.vocab))
    return {w: int(max(c, 1)) for w, c in zip(spec.vocab, counts)}


def run_gensim(docs, args, epochs: int | None = None, counts: dict[str, int] | None = None):
    from gensim.models import Word2Vec

    model = Word2Vec(vector_size=args.dim, window=args.window, negative=args.negatives, hs=0,
                     sample=args.subsample, sg=1 if args.mode == "skipgram" else 0, min_count=1,
                     workers=args.threads, seed=args.seed, ns_exponent=0.75)
    if counts:
        model.build_vocab_from_freq(counts)
    else:
        model.build_vocab(docs)
    t0 = time.perf_counter()
    model.train(docs, total_examples=len(docs), epochs=epochs or args.gensim_epochs)
    seconds = time.perf_counter() - t0
    return model.wv, seconds


def seconds_to_reach(curve: list[tuple[float, float]], rho: float) -> tuple[float, bool]:
    """Seconds at which a (seconds, ρ) curve, from (0, floor), first reaches rho (linear in between);
    (longest seconds, False) if it never does."""
    for (t0, r0), (t1, r1) in zip(curve, curve[1:]):
        if r1 >= rho:
            return (t0 + (t1 - t0) * (rho - r0) / (r1 - r0) if r1 > r0 else t1), True
    return curve[-1][0], False


def run_ours(dataset: str, data_root: str | None, args, folder: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """Train through the real trainer; returns (trained vectors, random-init vectors, epoch seconds)."""
    import queue

    from workbench.build import build_method, load_from_run
    from workbench.config import new_run_config
    from workbench.events import EventWriter, read_events
    from workbench.registry import get_method
    from workbench.runs import create_run_dir
    from workbench.trainer import Trainer, embed_all

    cls = get_method("word2vec")
    run = new_run_config("word2vec", dataset, cls.run_defaults, epochs=args.epochs, device=args.device,
                         seed=args.seed, data_root=data_root, threads=args.threads,
                         eval_every=args.epochs, probe_size=0, preview_interval=3600.0,
                         linear_probe=False)
    if args.batch_size:
        run.batch_size = args.batch_size
    if args.lr:
        run.lr = args.lr
    run.method_config = {"mode": args.mode, "dim": args.dim, "window": args.window,
                         "negatives": args.negatives, "subsample": args.subsample}
    run_dir = create_run_dir(run, path=folder / "ours")
    code = Trainer(run_dir, EventWriter(run_dir), queue.Queue()).run()
    if code != 0:
        raise SystemExit(f"our training failed (exit code {code}); see {run_dir}/events.jsonl")
    seconds = sum(ev["seconds"] for ev in read_events(run_dir) if ev["type"] == "epoch")
    loaded = load_from_run(run_dir, "last", device=args.device)
    trained = embed_all(loaded.method, loaded.dataset.x_test, loaded.device).numpy()
    fresh = build_method(run, loaded.dataset, loaded.device)
    floor = embed_all(fresh, loaded.dataset.x_test, loaded.device).numpy()
    return trained, floor, seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", default="lee", help="lee, wiki, or a path to a UTF-8 text file")
    p.add_argument("--mode", default="skipgram", choices=("skipgram", "cbow"))
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--window", type=int, default=5)
    p.add_argument("--negatives", type=int, default=5)
    p.add_argument("--subsample", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=1, help="torch threads for ours, workers for gensim")
    p.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--batch-size", type=int, help="ours: centre words per step (default: the method's)")
    p.add_argument("--lr", type=float, help="ours: Adam learning rate (default: the method's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--gensim-epochs", type=int, help="gensim's epochs when they should differ from ours "
                   "(e.g. to see where gensim's linear-decay SGD levels off); default --epochs")
    p.add_argument("--max-gensim-epochs", type=int, default=40, help="time to quality: gensim runs of "
                   "1..--epochs epochs, then doubling up to this many until it reaches our ρ")
    p.add_argument("--repeats", type=int, default=3, help="train both this many times, back to back; the "
                   "words/s ratio is the median of the repeats' ratios (one machine's speed drifts by ±20%%)")
    p.add_argument("--analogies", action="store_true", help="also score questions-words analogies")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = p.parse_args()
    args.gensim_epochs = args.gensim_epochs or args.epochs

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.corpus == "lee":
            dataset, root = "lee", None
        else:
            path = wiki_text(Path(tempfile.gettempdir()) / "ssl-workbench-enwiki.txt") if args.corpus == "wiki" \
                else Path(args.corpus)
            dataset, root = "textfile", str(path)
        spec = load_dataset(dataset, root=root).spec
        words = int(((spec.corpus >= 0) & ~held_out_positions(spec.corpus)).sum())  # the words both train on
        docs, counts = sentences(spec), word_counts(spec)
        ours, floor, our_s = run_ours(dataset, root, args, folder / "1")
        wv, gensim_s = run_gensim(docs, args, counts=counts)
        pairs = [(our_s, gensim_s)]
        for i in range(2, args.repeats + 1):  # speeds only: both again, back to back, so drift hits both
            pairs.append((run_ours(dataset, root, args, folder / str(i))[2], run_gensim(docs, args, counts=counts)[1]))
        our_s, gensim_s = (float(np.median(t)) for t in zip(*pairs))
        theirs = np.stack([wv[w] for w in spec.vocab])
        our_rho = scores(ours, spec.vocab, False)["wordsim353"]
        curve = [(0.0, scores(floor, spec.vocab, False)["wordsim353"])]
        for e in range(1, args.gensim_epochs):
            wv_e, s_e = run_gensim(docs, args, epochs=e, counts=counts)
            curve.append((s_e, scores(np.stack([wv_e[w] for w in spec.vocab]), spec.vocab, False)["wordsim353"]))
        curve.append((gensim_s, scores(theirs, spec.vocab, False)["wordsim353"]))
        gensim_to_ours, reached = seconds_to_reach(curve, our_rho)
        e = args.gensim_epochs
        while not reached and 2 * e <= args.max_gensim_epochs:  # more passes until gensim gets there
            e *= 2
            wv_e, s_e = run_gensim(docs, args, epochs=e, counts=counts)
            curve.append((s_e, scores(np.stack([wv_e[w] for w in spec.vocab]), spec.vocab, False)["wordsim353"]))
            gensim_to_ours, reached = seconds_to_reach(curve, our_rho)

    rows = {"ours": scores(ours, spec.vocab, args.analogies),
            "gensim": scores(theirs, spec.vocab, args.analogies),
            "random init": scores(floor, spec.vocab, args.analogies)}
    rows["ours"]["words_s"] = words * args.epochs / our_s
    rows["gensim"]["words_s"] = words * args.gensim_epochs / gensim_s
    # each repeat's ratio from its own back-to-back pair; the median of those is the figure
    pair_ratios = [(args.epochs / o) / (args.gensim_epochs / g) for o, g in pairs]
    result = {"corpus": args.corpus, "words": words, "vocab": len(spec.vocab),
              "settings": {k: getattr(args, k) for k in ("mode", "epochs", "gensim_epochs", "dim", "window",
                                                         "negatives", "subsample", "threads", "device")},
              "rows": rows,
              "ratio_words_s": float(np.median(pair_ratios)), "words_s_ratio_per_repeat": pair_ratios,
              "ratio_wordsim353": rows["ours"]["wordsim353"] / rows["gensim"]["wordsim353"],
              "ratio_simlex999": rows["ours"]["simlex999"] / rows["gensim"]["simlex999"],
              "our_seconds": our_s, "gensim_curve": curve, "gensim_seconds_to_our_rho": gensim_to_ours,
              "gensim_reached_our_rho": reached,
              "time_to_quality_ratio": gensim_to_ours / our_s}
    result["words_per_s_ratio"] = result["ratio_words_s"]
    if args.json:
        print(json.dumps(result, indent=2))
        return
    s = result["settings"]
    theirs_epochs = "" if s["gensim_epochs"] == s["epochs"] else f" (gensim {s['gensim_epochs']})"
    print(f"{args.corpus}: {words:,} running words, {len(spec.vocab):,} words in the vocabulary; "
          f"{s['mode']}, {s['epochs']} epochs{theirs_epochs}, dim {s['dim']}, window {s['window']}, "
          f"{s['negatives']} negatives, subsample {s['subsample']:g}, min_count 5, "
          f"{s['threads']} thread(s), {s['device']}")
    ws, sl = rows["gensim"]["wordsim353_pairs"], rows["gensim"]["simlex999_pairs"]
    head = f"{'':<12} {'wordsim353 ρ':>13} {'simlex999 ρ':>12}"
    head += f" {'analogy top-1':>14}" if args.analogies else ""
    print(f"(pairs in the vocabulary: wordsim353 {ws}/353, simlex999 {sl}/999"
          + (f", analogy questions {rows['gensim']['analogy_questions']}" if args.analogies else "") + ")")
    print(head + f" {'words/s':>10}")
    for name, r in rows.items():
        line = f"{name:<12} {r['wordsim353']:>13.3f} {r['simlex999']:>12.3f}"
        line += f" {r['analogy']:>14.3f}" if args.analogies else ""
        line += f" {r['words_s']:>10,.0f}" if "words_s" in r else f" {'—':>10}"
        print(line)
    # a ratio of correlations means something only when gensim's is clearly positive
    rho = {k: f"{result['ratio_' + k]:.2f}" if rows["gensim"][k] > 0.05 else "n/a (gensim ρ ≤ 0.05)"
           for k in ("wordsim353", "simlex999")}
    each = ", ".join(f"{r:.2f}" for r in pair_ratios)
    print(f"ratio ours/gensim: words/s {result['ratio_words_s']:.2f} (median of {len(pairs)}: {each}), "
          f"wordsim353 ρ {rho['wordsim353']}, "
          f"simlex999 ρ {rho['simlex999']}")
    bound = "" if reached else "≥ "
    print(f"time to wordsim353 ρ {our_rho:.3f} (ours' final): ours {our_s:.1f} s, gensim {bound}{gensim_to_ours:.1f} s "
          f"(gensim's curve over {len(curve) - 1} runs); time-to-quality ratio gensim/ours {bound}"
          f"{result['time_to_quality_ratio']:.2f}")


if __name__ == "__main__":
    main()
