"""Text datasets: gensim's bundled Lee corpus and any UTF-8 text file, as a vocabulary and word positions.

Layout of a text Dataset (modality "text"):
- spec.vocab: the words, most frequent first; spec.word_counts: how often each occurs.
- spec.corpus: int32 token ids of the whole text, in order, with -1 between documents.
- TRAIN rows (N, 2) int64: [word id, position in spec.corpus], one row per running word, so
  a batch is a set of centre words and a method reads their contexts from the corpus.
- TEST rows (V, 2) int64: [word id, -1], one row per vocabulary word: embedding the test
  split gives one vector per word, which the explorer, export and word benchmarks use.
Labels are -1 (text is unlabelled). Memory is ~20 bytes per running word.
"""
from __future__ import annotations

import importlib.util
import os
import re
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

from workbench.data.base import DataError, Dataset, make_dataset

MIN_COUNT = 5  # words rarer than this are dropped (gensim's default)
MAX_VOCAB = 50_000  # most frequent words kept: a bigger vocabulary only adds rare, noisy vectors
MIN_VOCAB = 10  # fewer kept words than this is not a text worth training on
MAX_FILE_BYTES = 512 * 2**20
_SNIFF_BYTES = 8192

# gensim.utils.simple_preprocess's rules, without importing gensim (seconds): runs of letters
# (no digits), lowercased, 2-15 characters, not starting with "_".
_WORD = re.compile(r"((?![\d])\w)+", re.UNICODE)
_MIN_LEN, _MAX_LEN = 2, 15


def tokenize(text: str) -> list[str]:
    """Lowercase words of a text, split and filtered exactly like gensim's simple_preprocess."""
    return [w for w in (m.group() for m in _WORD.finditer(text.lower()))
            if _MIN_LEN <= len(w) <= _MAX_LEN and not w.startswith("_")]


def gensim_datapath(name: str) -> Path:
    """A file bundled with gensim's tests (lee_background.cor, wordsim353.tsv, ...), found
    without importing gensim."""
    spec = importlib.util.find_spec("gensim")
    if spec is None or spec.origin is None:
        raise DataError("gensim is not installed; it provides the Lee corpus and word benchmarks "
                        "(pip install gensim).")
    path = Path(spec.origin).parent / "test" / "test_data" / name
    if not path.is_file():
        raise DataError(f"gensim's bundled file {name} is missing from {path.parent}; reinstall gensim.")
    return path


def build_text_dataset(name: str, documents: Iterable[list[str]], min_count: int = MIN_COUNT,
                       max_vocab: int = MAX_VOCAB, source: str = "the text") -> Dataset:
    """Vocabulary, corpus buffer and the two splits from tokenised documents (read once, lazily)."""
    # Each document becomes int32 ids in order of first sight right away: a few million words
    # then cost megabytes, not a list of Python strings per word.
    seen: dict[str, int] = {}
    docs = [np.fromiter((seen.setdefault(w, len(seen)) for w in d), dtype=np.int32, count=len(d))
            for d in documents if d]
    if not seen:
        raise DataError(f"{source} contains no words (letters a-z and other alphabets; digits "
                        f"and one-letter words are skipped).")
    counts = np.bincount(np.concatenate(docs), minlength=len(seen))
    # Most frequent first, ties alphabetical, so the ids never depend on the order of the text.
    ranked = sorted((w for w, i in seen.items() if counts[i] >= min_count), key=lambda w: (-counts[seen[w]], w))
    ranked = ranked[:max_vocab]
    if len(ranked) < MIN_VOCAB:
        raise DataError(f"{source} is too short: only {len(ranked)} distinct words occur at least "
                        f"{min_count} times ({int(counts.sum()):,} words in all); word2vec needs "
                        f"a longer text (tens of thousands of words).")
    new_id = np.full(len(seen), -1, dtype=np.int32)
    new_id[[seen[w] for w in ranked]] = np.arange(len(ranked), dtype=np.int32)
    pieces: list[np.ndarray] = []
    for doc in docs:
        ids = new_id[doc]
        ids = ids[ids >= 0]  # rare words leave the text, as in gensim: windows close over them
        if len(ids):
            if pieces:
                pieces.append(np.full(1, -1, np.int32))
            pieces.append(ids)
    corpus = np.concatenate(pieces)
    positions = np.flatnonzero(corpus >= 0)
    x_train = torch.from_numpy(np.stack([corpus[positions].astype(np.int64), positions], axis=1))
    x_test = torch.stack([torch.arange(len(ranked)), torch.full((len(ranked),), -1)], dim=1)
    ds = make_dataset(name, x_train, torch.full((len(x_train),), -1), x_test,
                      torch.full((len(ranked),), -1), [], modality="text")
    ds.spec.vocab = ranked
    ds.spec.word_counts = [int(counts[seen[w]]) for w in ranked]
    ds.spec.corpus = corpus
    return ds


def load_lee() -> Dataset:
    """The Lee background corpus (300 Australian news stories, ~58k words) bundled with gensim."""
    path = gensim_datapath("lee_background.cor")
    with open(path, encoding="utf-8") as f:
        docs = (tokenize(line) for line in f)  # one story per line
        return build_text_dataset("lee", docs, source="the Lee corpus")


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError(f"text file {path} does not exist.")
    if path.is_dir():
        raise DataError(f"{path} is a folder; the textfile dataset needs one text file (.txt).")
    size = path.stat().st_size
    if size == 0:
        raise DataError(f"text file {path} is empty.")
    if size > MAX_FILE_BYTES:
        raise DataError(f"text file {path} is {size / 2**20:,.0f} MB; the limit is "
                        f"{MAX_FILE_BYTES // 2**20} MB (split it or take a part).")


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}.") from None
    if b"\x00" in raw[:_SNIFF_BYTES]:
        raise DataError(f"{path} looks like a binary file, not text; pick a UTF-8 text file.")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                        f"save it as UTF-8 or pick a text file.") from None


def text_documents(text: str) -> Iterator[list[str]]:
    """Paragraphs (separated by blank lines) as token lists, one at a time: wrapped lines join,
    and context windows do not reach across a paragraph break."""
    return (tokenize(p) for p in re.split(r"\n\s*\n", text))


_FILE_CACHE: dict[tuple, Dataset] = {}
_FILE_LOCK = threading.Lock()


def load_textfile(root: str | os.PathLike | None) -> Dataset:
    """Any UTF-8 text file; re-read only when its size or modification time changes."""
    if root in (None, ""):
        raise DataError("the textfile dataset needs a file: pass --data-root PATH/TO/TEXT.txt "
                        "(or choose one with Browse… in the app).")
    path = Path(os.fspath(root)).expanduser().resolve()
    _check_file(path)
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _FILE_LOCK:
        cached = _FILE_CACHE.get(key)
        if cached is None:
            docs = text_documents(_read_text(path))
            cached = build_text_dataset("textfile", docs, source=f"text file {path}")
            _FILE_CACHE.clear()  # one file at a time: a big text's positions are tens of MB
            _FILE_CACHE[key] = cached
    return cached.shallow_copy()
