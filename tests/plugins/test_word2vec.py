"""word2vec: the SGNS loss, subsampling and noise tables, context windows, a short run, and CLI train → eval → export."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from plugins.word2vec import (PAD, Word2Vec, alias_table, gather_contexts, keep_probabilities, noise_distribution,
                              sgns_loss)
from workbench.api import Batch
from workbench.data import load_dataset
from workbench.data.text import build_text_dataset


@pytest.fixture(scope="module")
def lee():
    return load_dataset("lee")


def _method(spec, **settings) -> Word2Vec:
    torch.manual_seed(0)
    return Word2Vec(Word2Vec.Config(**settings), torch.nn.Identity(), 0, spec)


# --- the loss -------------------------------------------------------------------------------
def test_sgns_loss_known_values():
    k = 5
    # every score 0: each pair costs log 2 for the true word and log 2 per noise word
    assert sgns_loss(torch.zeros(7), torch.zeros(7, k)).item() == pytest.approx((1 + k) * math.log(2))
    # perfectly separated: the true pair certain, every noise word impossible
    assert sgns_loss(torch.full((7,), 30.0), torch.full((7, k), -30.0)).item() < 1e-10
    # and the reverse costs about the margin on every term
    assert sgns_loss(torch.full((3,), -30.0), torch.full((3, k), 30.0)).item() == pytest.approx(30 * (1 + k), rel=1e-6)
    # one pair by hand: -log σ(2) - log σ(-1) - log σ(0.5)
    expected = -math.log(1 / (1 + math.exp(-2))) - math.log(1 / (1 + math.exp(1))) - math.log(1 / (1 + math.exp(-0.5)))
    assert sgns_loss(torch.tensor([2.0]), torch.tensor([[1.0, -0.5]])).item() == pytest.approx(expected)


def test_sgns_loss_masks_noise_draws():
    pos, neg = torch.zeros(2), torch.tensor([[5.0, 5.0], [5.0, 5.0]])
    mask = torch.tensor([[True, False], [False, False]])
    softplus5 = math.log1p(math.exp(5))
    assert sgns_loss(pos, neg, mask).item() == pytest.approx(math.log(2) + softplus5 / 2)


# --- subsampling and noise ---------------------------------------------------------------------
def test_keep_probabilities_follow_word2vec():
    counts = np.array([1000, 100, 10, 1])
    keep = keep_probabilities(counts, 1e-2)
    c = 1e-2 * counts.sum()  # 11.11
    assert keep[0] == pytest.approx((math.sqrt(1000 / c) + 1) * c / 1000)
    assert keep[0] < keep[1] < 1.0 and keep[2] == keep[3] == 1.0  # rare words are always kept
    assert (keep_probabilities(counts, 0) == 1).all()


def test_noise_distribution_and_draws(lee):
    counts = np.array(lee.spec.word_counts, dtype=float)
    p = noise_distribution(counts, 0.75)
    assert p.sum() == pytest.approx(1.0)
    assert p[0] / p[-1] == pytest.approx((counts[0] / counts[-1]) ** 0.75)
    assert (noise_distribution(counts, 0.0) == 1 / len(counts)).all()
    method = _method(lee.spec)
    torch.manual_seed(0)
    draws = method.draw_noise((200_000,)).numpy()
    assert draws.min() >= 0 and draws.max() < len(counts)
    freq = np.bincount(draws, minlength=len(counts)) / len(draws)
    assert freq[:20] == pytest.approx(p[:20], rel=0.1)  # the frequent words, where counts are large


def test_alias_table_holds_the_distribution_exactly(lee):
    p = noise_distribution(np.array(lee.spec.word_counts, dtype=float), 0.75)
    prob, alias = alias_table(p)
    # each column gives its own word with prob[i] and its alias with 1 - prob[i]
    mass = prob.copy()
    np.add.at(mass, alias, 1.0 - prob)
    assert mass / len(p) == pytest.approx(p, rel=1e-9, abs=1e-15)
    assert ((prob >= 0) & (prob <= 1)).all()
    skewed = np.array([0.7, 0.2, 0.05, 0.05])
    prob, alias = alias_table(skewed)
    mass = prob.copy()
    np.add.at(mass, alias, 1.0 - prob)
    assert mass / 4 == pytest.approx(skewed)


# --- context windows -----------------------------------------------------------------------------
def _padded(tokens: list[int]) -> torch.Tensor:
    return torch.nn.functional.pad(torch.tensor(tokens, dtype=torch.int32), (PAD, PAD), value=-1)


def test_contexts_stop_at_document_breaks_and_respect_the_reach():
    corpus = _padded([10, 11, 12, 13, -1, 20, 21, 22])
    pos = torch.tensor([2, 5])  # word 12 (doc 1), word 20 (first of doc 2)
    ctx = gather_contexts(corpus, pos, window=3, reach=torch.tensor([3, 3]))
    assert ctx.tolist() == [[11, 10, -1, 13, -1, -1], [-1, -1, -1, 21, 22, -1]]
    short = gather_contexts(corpus, pos, window=3, reach=torch.tensor([1, 2]))
    assert short.tolist() == [[11, -1, -1, 13, -1, -1], [-1, -1, -1, 21, 22, -1]]


def test_subsampled_words_are_skipped_over_like_deleted_words():
    corpus = _padded([1, 0, 0, 2, 5, 3, 0, 4])
    keep = torch.tensor([0.0, 1, 1, 1, 1, 1])  # word 0 never survives
    ctx = gather_contexts(corpus, torch.tensor([4]), window=2, reach=torch.tensor([2]), keep=keep)
    assert ctx.tolist() == [[2, 1, 3, 4]]  # the window reaches past the dropped 0s
    assert gather_contexts(corpus, torch.tensor([4]), window=2, reach=torch.tensor([2]),
                           keep=torch.ones(6)).tolist() == [[2, 0, 3, 0]]


# --- the method ----------------------------------------------------------------------------------
def test_embed_is_the_input_vector_of_the_word(lee):
    method = _method(lee.spec, dim=8)
    assert method.feat_dim == 8
    rows = lee.x_test[:5]
    assert torch.equal(method.embed(rows), method.in_vectors.weight[:5])
    train_rows = lee.x_train[:5]
    assert torch.equal(method.embed(train_rows), method.in_vectors.weight[train_rows[:, 0]])


def test_refuses_data_without_a_vocabulary():
    from workbench.api import DataSpec

    spec = DataSpec("t", "image", (1, 8, 8), 2, ["a", "b"], 10, 10)
    with pytest.raises(ValueError, match="text dataset"):
        _method(spec)


@pytest.mark.parametrize("update", ["sparse", "autograd"])
@pytest.mark.parametrize("mode", ["skipgram", "cbow"])
def test_short_run_learns_and_scores_finite(lee, mode, update):
    from workbench.wordsim import similarity_scores

    method = _method(lee.spec, mode=mode, dim=32, update=update)
    # what the trainer sets for a method that updates itself (CBOW averages its errors: a larger rate)
    method.learning_rate = 0.05 if mode == "skipgram" else 0.5
    opt = torch.optim.Adam(method.parameters(), lr=0.01)
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(len(lee.x_train), generator=g)
    losses = []
    for step in range(30):
        idx = order[step * 512:(step + 1) * 512]
        out = method.training_step(Batch(lee.x_train[idx], lee.y_train[idx], idx))
        assert out.loss.requires_grad == (update == "autograd")
        if update == "autograd":
            opt.zero_grad()
            out.loss.backward()
            opt.step()
        losses.append(out.loss.item())
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.3, losses
    assert 0 < float(out.logs["p_context"]) < 1
    results = similarity_scores(method.in_vectors.weight.detach().numpy(), lee.spec.vocab)
    assert all(math.isfinite(r.rho) and r.found >= 3 for r in results.values())


def test_subsampled_centres_are_dropped_before_their_contexts_are_gathered(lee, monkeypatch):
    import plugins.word2vec as W

    method = _method(lee.spec, subsample=1e-3)
    gathered = []
    real = W.gather_contexts
    monkeypatch.setattr(W, "gather_contexts", lambda corpus, positions, *a: gathered.append(len(positions))
                        or real(corpus, positions, *a))
    batch = Batch(lee.x_train[:2000], lee.y_train[:2000], torch.arange(2000))
    torch.manual_seed(0)
    method.training_step(batch)
    expected = method.keep[lee.x_train[:2000, 0].long()].sum().item()  # centres kept on average
    assert gathered and abs(gathered[0] - expected) < 4 * expected ** 0.5 and gathered[0] < 1900


def test_all_centres_subsampled_gives_a_zero_step():
    ds = build_text_dataset("toy", [[f"w{i % 12}" for i in range(120)]], min_count=1)
    for update in ("sparse", "autograd"):
        method = _method(ds.spec, subsample=1e-6, update=update)
        method.keep.zero_()  # nothing survives subsampling
        before = method.in_vectors.weight.detach().clone()
        out = method.training_step(Batch(ds.x_train[:8], ds.y_train[:8], torch.arange(8)))
        assert out.loss.item() == 0 and out.loss.requires_grad == (update == "autograd")
        assert torch.equal(method.in_vectors.weight, before)


def _reference_sgd(method, sources, targets, noise, lr, mode):
    """One plain SGD step of the summed negative-sampling loss, by autograd: (new in, new out)."""
    w_in = method.in_vectors.weight.detach().clone().requires_grad_()
    w_out = method.out_vectors.weight.detach().clone().requires_grad_()
    if mode == "skipgram":
        hidden = w_in[sources]
    else:  # sources: (P, C) context words, −1 = none
        mask = (sources >= 0).float().unsqueeze(-1)
        hidden = (w_in[sources.clamp(min=0)] * mask).sum(1) / mask.sum(1)
    pos = (hidden * w_out[targets]).sum(-1)
    neg = (hidden.unsqueeze(1) * w_out[noise]).sum(-1)
    loss = sgns_loss(pos, neg, noise != targets[:, None]) * len(targets)  # the sum over pairs
    loss.backward()
    return (w_in - lr * w_in.grad).detach(), (w_out - lr * w_out.grad).detach()


@pytest.mark.parametrize("path", ["_compiled_step", "_batched_step"])
@pytest.mark.parametrize("mode", ["skipgram", "cbow"])
def test_the_sparse_step_is_an_autograd_sgd_step(mode, path):
    """On pairs that share no rows (so word2vec.c's one-pair-at-a-time order cannot matter), the
    sparse step moves both tables exactly as one SGD step on the summed loss does by autograd."""
    ds = build_text_dataset("toy", [[f"w{i}" for i in range(40)]], min_count=1)
    method = _method(ds.spec, mode=mode, dim=8, negatives=3, subsample=0)
    lr = 0.3
    method.learning_rate = lr
    # two centres (words 0, 1); every word in one pair only, one noise draw equal to its true word
    # (skipped, as gensim does)
    centre = torch.tensor([0, 1])
    if mode == "skipgram":  # one context word each: pairs (0→10), (1→12)
        context = torch.tensor([[10, -1, -1, -1], [12, -1, -1, -1]])
        sources, targets = torch.tensor([0, 1]), torch.tensor([10, 12])
        noise = torch.tensor([[20, 21, 10], [22, 23, 24]])
    else:  # two context words each, averaged
        context = torch.tensor([[10, 11, -1, -1], [12, 13, -1, -1]])
        sources, targets = context, centre
        noise = torch.tensor([[20, 21, 0], [22, 23, 24]])
    valid = context >= 0
    method.draw_noise = lambda shape: noise
    want_in, want_out = _reference_sgd(method, sources, targets, noise, lr, mode)
    out = getattr(method, path)(centre, context, valid)
    assert not out.loss.requires_grad and math.isfinite(out.loss.item())
    torch.testing.assert_close(method.in_vectors.weight.detach(), want_in, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(method.out_vectors.weight.detach(), want_out, rtol=1e-5, atol=1e-6)


def test_previews_show_words(lee):
    method = _method(lee.spec, dim=16)
    method.eval()
    batch = Batch(lee.x_train[:32], lee.y_train[:32], torch.arange(32))
    with torch.no_grad():
        previews = method.previews(batch)
    near = previews["neighbours"]
    assert len(near.tiles) == len(near.captions) == len(method.probes) * near.columns
    probe_words = [lee.spec.vocab[i] for i in method.probes]
    assert "government" in probe_words and near.captions[0] == f"{probe_words[0]}: nearest →"
    pairs = previews["pairs"]
    assert pairs.captions[0] == f"{lee.spec.vocab[int(lee.x_train[0, 0])]} (centre)"
    assert all(c[0] in "✓✗" for c in pairs.captions[1:8] if c != "(no word)")
    assert pairs.grid().dtype == np.uint8


# --- end to end ----------------------------------------------------------------------------------
def test_cli_train_eval_export_on_lee(tmp_path, capsys):
    from workbench.cli import main
    from workbench.events import read_events
    from workbench.export import read_export

    run_dir = tmp_path / "run"
    assert main(["train", "--method", "word2vec", "--dataset", "lee", "--epochs", "2", "--batch-size", "2048",
                 "--device", "cpu", "--run-dir", str(run_dir), "--quiet", "--set", "dim=16",
                 "--set", "threads=1", "--set", "probe_size=300"]) == 0
    events = list(read_events(run_dir))
    evals = [e for e in events if e["type"] == "eval" and "scores" in e]
    assert len(evals) == 2 and all("wordsim353 ρ" in e["scores"] for e in evals)
    measured = [e["measures"] for e in events if e["type"] == "eval" and "measures" in e]
    assert len(measured) == 2 and all(m["context-word perplexity"] > 0 and m["unigram perplexity"] > 0
                                      for m in measured)  # the held-out measure, each epoch
    assert evals[0]["coverage"]["wordsim353"][1] == 353
    assert (run_dir / "checkpoints" / "best.pt").is_file()  # follows the WordSim-353 ρ
    finished = events[-1]
    assert finished["type"] == "finished" and "linear_top1" not in finished
    assert "wordsim353 ρ" in capsys.readouterr().out

    assert main(["eval", str(run_dir), "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["vocabulary"] == len(load_dataset("lee").spec.vocab)
    for row in ("model", "floor_random_init"):
        assert -1 <= report[row]["wordsim353_rho"] <= 1
        assert report[row]["analogy_questions"][0] > 0 and 0 <= report[row]["analogy_top1"] <= 1
    assert isinstance(report["beats_random_init"], bool)
    for measures in (report["measures"], report["floor_random_init"]["measures"]):  # the held-out measure
        assert list(measures) == ["context-word perplexity", "unigram perplexity"]
    assert report["measures"]["unigram perplexity"] == report["floor_random_init"]["measures"]["unigram perplexity"]
    # eval's verdict is the bench's: the held-out measure decides, not ρ over a handful of pairs
    assert report["verdict"]["decided_by"].startswith("context-word perplexity")
    assert report["verdict"]["beats_floor"] is (report["measures"]["context-word perplexity"]
                                                < report["measures"]["unigram perplexity"])

    out = tmp_path / "words.h5"
    assert main(["export", str(run_dir), "--out", str(out), "--device", "cpu", "--quiet"]) == 0
    exported = read_export(out)
    vocab = load_dataset("lee").spec.vocab
    assert exported.embeddings.shape == (len(vocab), 16)
    assert exported.words == vocab


def test_a_resumed_text_run_continues_exactly(tmp_path):
    """The corpus, keep and noise tables are rebuilt on load, not checkpointed; the RNG is."""
    import queue

    from workbench.checkpoint import load_checkpoint
    from workbench.config import new_run_config
    from workbench.events import EventWriter
    from workbench.runs import create_run_dir
    from workbench.trainer import Trainer

    class StopAt(queue.Queue):
        """Answers "stop" at the n-th look for commands (the trainer looks once per step)."""

        def __init__(self, n: int):
            super().__init__()
            self.n = n

        def get_nowait(self):
            self.n -= 1
            if self.n == 0:
                return {"type": "stop"}
            raise queue.Empty

    def make(name: str):
        run = new_run_config("word2vec", "lee", epochs=2, batch_size=4096, device="cpu", threads=1,
                             probe_size=50, preview_interval=3600.0)
        run.method_config = {"dim": 8}
        return create_run_dir(run, path=tmp_path / name)

    def train(run_dir, commands, resume=False):
        assert Trainer(run_dir, EventWriter(run_dir), commands, resume=resume).run() == 0
        return load_checkpoint(run_dir / "checkpoints" / "last.pt")

    expected = train(make("straight"), queue.Queue())
    halves = make("halves")
    stopped = train(halves, StopAt(16))  # 12 steps per epoch: stops inside the second
    assert 12 < stopped["step"] < expected["step"]
    resumed = train(halves, queue.Queue(), resume=True)
    assert resumed["step"] == expected["step"] and "corpus" not in resumed["model"]
    for key in ("in_vectors.weight", "out_vectors.weight"):
        assert torch.equal(resumed["model"][key], expected["model"][key]), key
    assert resumed["best_score"] == expected["best_score"]


# --- the held-out measure -------------------------------------------------------------------
def _documents(docs: int = 20, length: int = 30) -> list[list[str]]:
    """Documents of word pairs that always come together ('a3 b3'): the context says a lot."""
    rng = np.random.default_rng(0)
    return [[w for k in rng.integers(0, 12, length // 2) for w in (f"a{k}", f"b{k}")] for _ in range(docs)]


def test_training_never_reads_a_held_out_document():
    ds = build_text_dataset("toy", _documents(), min_count=1)
    method = _method(ds.spec)
    corpus = np.asarray(ds.spec.corpus)
    text = method.corpus[PAD:-PAD].numpy()
    held = (np.cumsum(corpus < 0) % 10 == 9) & (corpus >= 0)  # the words of documents 9 and 19
    assert held.sum() == 60 and (text[held] == -1).all() and (text[~held] == corpus[~held]).all()
    assert [len(d) for d in method.test_docs] == [30, 30]
    assert method.train_counts.sum() == (corpus >= 0).sum() - 60


def test_held_out_windows_hold_every_word_within_the_window():
    ds = build_text_dataset("toy", _documents(), min_count=1)
    method = _method(ds.spec, window=2)
    centres, contexts = method.held_out_windows()
    doc = method.test_docs[0]
    assert torch.equal(centres[:30], torch.from_numpy(doc.astype(np.int64)))
    assert contexts[0].tolist() == [-1, -1, doc[1], doc[2]] and contexts[5].tolist() == list(doc[[3, 4, 6, 7]])
    assert contexts[29].tolist() == [doc[27], doc[28], -1, -1]  # never across a document break


@pytest.mark.parametrize("mode", ["skipgram", "cbow"])
def test_a_model_that_learnt_nothing_is_the_unigram_model(mode):
    # zero vectors: every score is 0, so the implied conditional is the prior q(c) / keep(c),
    # which with counts^1 and no subsampling is the (add-one) unigram model: the floor, exactly
    ds = build_text_dataset("toy", _documents(), min_count=1)
    method = _method(ds.spec, mode=mode, ns_exponent=1.0, subsample=0.0)
    method.in_vectors.weight.data.zero_()
    measures = method.measures(None)
    label = "context-word perplexity" if mode == "skipgram" else "centre-word perplexity"
    assert list(measures) == [label, "unigram perplexity"]
    assert measures[label] == pytest.approx(measures["unigram perplexity"], rel=1e-5)
    # the floor by hand: skip-gram predicts each word once per neighbour within the window
    counts = method.train_counts + 1.0
    centres, contexts = method.held_out_windows()
    targets = contexts[contexts >= 0].numpy() if mode == "skipgram" else centres.numpy()
    assert measures["unigram perplexity"] == pytest.approx(np.exp(-np.log(counts[targets] / counts.sum()).mean()))


@pytest.mark.parametrize("mode", ["skipgram", "cbow"])
def test_a_model_that_learnt_the_text_beats_the_unigram_floor(mode):
    ds = build_text_dataset("toy", _documents(docs=60), min_count=1)
    method = _method(ds.spec, mode=mode, dim=16, window=1, subsample=0.0)
    method.learning_rate = 0.05 if mode == "skipgram" else 0.2
    before = method.measures(None)
    for _ in range(40):
        idx = torch.randperm(len(ds.x_train))[:256]
        method.training_step(Batch(ds.x_train[idx], ds.y_train[idx], idx))
    after = method.measures(None)
    label = next(iter(after))
    assert after[label] < 0.8 * after["unigram perplexity"] and after[label] < before[label]
    assert after["unigram perplexity"] == before["unigram perplexity"]  # the floor reads no weights
