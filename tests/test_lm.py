"""Chapter 4: the OPT language-model chain. Nothing here downloads: the quick base is trained into the shared cache
(once per machine) and the paper profile's code path runs on a tiny OPT saved in a temporary folder."""
import json
import math

import numpy as np
import pytest
import torch

from collapse_lab import checks, loop, lm, metrics
from collapse_lab.checks.core import CheckFailed

TEXT = (" = Lobsters = \n The European lobster is a species of lobster from the eastern Atlantic Ocean . "
        "It may grow to a length of 60 cm and a mass of 6 kilograms . \n") * 40


@pytest.fixture(scope="module")
def parts():
    base, tok = lm.load_base("quick")
    return base, tok, lm.corpus(tok, "quick")


@pytest.fixture(scope="module")
def chains(parts):
    """Settings (a) and (b) of the quick profile, seed 0, the profile's 3 generations."""
    return {s: lm.chain(s, profile="quick", seed=0, parts=parts, keep=(0,)) for s in ("a", "b")}


def tiny_opt(path, vocab=300):
    """A tiny random OPT and a BPE tokenizer saved with save_pretrained into ``path``."""
    tok = lm.train_tokenizer(TEXT, vocab)
    torch.manual_seed(0)
    from transformers import OPTForCausalLM

    model = OPTForCausalLM(lm.config(dict(layers=1, width=32, heads=2, vocab=len(tok))))
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return model.eval(), tok


# --------------------------------------------------------------------------------------------------------------
# pieces


def test_blocks_pack_and_drop_the_remainder():
    ids = np.arange(130)
    b = lm.blocks(ids)
    assert b.shape == (2, 64) and b.dtype == np.int64
    assert np.array_equal(b[1], np.arange(64, 128))
    assert lm.blocks(np.arange(5), 64).shape == (0, 64)
    with pytest.raises(ValueError, match="ids"):
        lm.blocks(np.zeros((2, 3), dtype=int))
    with pytest.raises(ValueError, match="size"):
        lm.blocks(ids, 0)
    with pytest.raises(ValueError, match="ids"):
        lm.blocks(np.linspace(0, 1, 10))


def test_spread_takes_evenly_spaced_rows():
    x = np.arange(100)[:, None]
    assert lm.spread(x, 5)[:, 0].tolist() == [0, 25, 50, 74, 99]
    assert lm.spread(x, None) is x and lm.spread(x, 500) is x
    with pytest.raises(ValueError, match="n must"):
        lm.spread(x, 0)


def test_tokenizer_round_trip_and_line_chunking():
    tok = lm.train_tokenizer(TEXT, 300)
    assert len(tok) == 300 and tok.pad_token_id == 1 and tok.eos_token_id == 2
    ids = lm.encode(tok, TEXT)
    assert tok.decode(ids) == TEXT
    # encoding a few hundred lines at a time gives the ids of the whole text at once
    assert ids.tolist() == tok(TEXT, add_special_tokens=False)["input_ids"]
    with pytest.raises(ValueError, match="text"):
        lm.train_tokenizer("", 300)
    with pytest.raises(ValueError, match="vocab"):
        lm.train_tokenizer(TEXT, 10)
    with pytest.raises(TypeError, match="text"):
        lm.encode(tok, 5)
    with pytest.raises(TypeError, match="tok"):
        lm.encode("not a tokenizer", TEXT)


def test_save_load_gives_identical_logits(tmp_path):
    model, tok = tiny_opt(tmp_path)
    loaded, tok2 = lm.load(tmp_path)
    x = torch.as_tensor(lm.blocks(lm.encode(tok, TEXT), 16)[:4])
    with torch.no_grad():
        assert torch.equal(model(input_ids=x).logits, loaded(input_ids=x).logits)
    assert lm.encode(tok2, TEXT).tolist() == lm.encode(tok, TEXT).tolist()
    with pytest.raises(TypeError, match="source"):
        lm.load(5)


def _peaked(model):
    """``model`` with weights scaled up, so its next-token distributions are peaked and beam search's beams overtake
    one another (at the default scale a random model's beams never reorder, and a wrong reorder would pass)."""
    torch.manual_seed(0)
    with torch.no_grad():
        for w in model.parameters():
            w.normal_(0, 0.5)
    return model


RUNS = [dict(), dict(repetition_penalty=1.0), dict(decoding="sample", seed=4), dict(beams=3, batch=2)]


def _forgetful(buffered_layer):
    """A fast-path cache layer that forgets beam search's reordering (so it writes other tokens than the library)."""
    def layer(base, capacity, beams):
        out = buffered_layer(base, capacity, beams)
        out.reorder_cache = lambda beam_idx: None
        return out
    return layer


def test_fast_and_plain_generation_write_the_same_tokens(tmp_path, monkeypatch):
    """lm.generate's fast path (lm.kvcache: its own key/value cache and one pass over each prompt) only saves time:
    beam search with and without the repetition penalty, other beam counts and batches, and sampling write the same
    tokens as the library's own path (fast=False), with the same arguments in every forward pass."""
    from collapse_lab.lm import kvcache

    model = _peaked(tiny_opt(tmp_path)[0])
    tok = lm.load(tmp_path)[1]
    x = torch.as_tensor(lm.blocks(lm.encode(tok, TEXT), 16)[:5])
    assert kvcache.agrees()  # the run-time guard (its own calls of the cache are not counted below)
    used = []  # the fast path really ran: its cache was handed to generate
    real_cache_kw = kvcache.cache_kw
    monkeypatch.setattr(kvcache, "cache_kw", lambda *a: used.append(real_cache_kw(*a)) or used[-1])
    args = {True: set(), False: set()}  # the arguments of every forward pass: the same both ways
    first = {True: [], False: []}  # rows of each call's first pass: one per prompt on the fast path
    fast = True

    def rows(m, a, out):  # the token embedding sees what the model computes: the prompts' pass has > 1 position
        if a[0].shape[1] > 1:
            first[fast].append(a[0].shape[0])
    handles = [model.register_forward_hook(lambda m, a, kw, out: args[fast].add(tuple(sorted(kw))), with_kwargs=True),
               model.get_input_embeddings().register_forward_hook(rows)]
    ours = [lm.generate(model, x, new=12, **kw) for kw in RUNS]
    assert "forward" not in vars(model), "generate must leave the model's forward as it was"
    assert len(used) == 6 and all(used), "the fast path must use its own cache in every batch"
    fast = False
    plain = [lm.generate(model, x, new=12, fast=False, **kw) for kw in RUNS]
    for h in handles:
        h.remove()
    assert len(used) == 6, "fast=False must not touch the fast path's cache"
    for kw, o, p in zip(RUNS, ours, plain):
        assert torch.equal(o, p), kw
    assert args[True] == args[False]
    # beam search's first pass: the fast path runs each prompt once, the library once per beam
    assert first[True] == [5, 5, 5, 2, 2, 1] and first[False] == [25, 25, 5, 6, 6, 3]
    # the comparison has power: a fast path that forgot beam search's reordering writes other tokens here
    monkeypatch.setattr(kvcache, "buffered_layer", _forgetful(kvcache.buffered_layer))
    assert not torch.equal(lm.generate(model, x, new=12), plain[0])


def test_fast_path_is_used_only_where_it_writes_the_librarys_tokens(monkeypatch):
    """The run-time guard (transformers releases change the cache classes the fast path reaches into): checked once
    per process; a cache that wrote other tokens (here: one that forgets beam search's reordering) fails it, and
    generate keeps to the library's path. Buffers past CACHE_BYTES also take the library's cache."""
    from collapse_lab.lm import kvcache

    kvcache.agrees.cache_clear()
    assert kvcache.agrees()
    monkeypatch.setattr(kvcache, "buffered_layer", _forgetful(kvcache.buffered_layer))
    kvcache.agrees.cache_clear()
    try:
        assert not kvcache.agrees()
    finally:
        kvcache.agrees.cache_clear()
    from transformers import OPTForCausalLM

    model = OPTForCausalLM(lm.config(dict(layers=1, width=32, heads=2, vocab=300)))
    assert kvcache.cache_kw(model, 25, 28, 5)
    monkeypatch.setattr(kvcache, "CACHE_BYTES", 0)  # nothing fits: the library's cache, one pass per beam
    assert kvcache.cache_kw(model, 25, 28, 5) == {}


def test_losses_perplexity_and_continuations(tmp_path):
    model, tok = tiny_opt(tmp_path)
    x = torch.as_tensor(lm.blocks(lm.encode(tok, TEXT), 16)[:6])
    losses = lm.token_losses(model, x, batch=4)
    assert losses.shape == (6, 15) and np.all(losses > 0)
    with torch.no_grad():  # the model's own mean cross-entropy is the mean of our per-token losses
        ce = model(input_ids=x, labels=x).loss.item()
    assert math.isclose(losses.mean(), ce, rel_tol=1e-5)
    assert math.isclose(lm.perplexity(model, x), math.exp(ce), rel_tol=1e-5)
    assert np.allclose(lm.seq_perplexity(model, x), np.exp(losses.mean(1)))
    # a random 300-token model is near the uniform perplexity
    assert 150 < lm.perplexity(model, x) < 600
    out = lm.generate(model, x[:3], new=5, batch=2)
    assert out.shape == (3, 5) and out.dtype == torch.int64
    assert torch.equal(out, lm.generate(model, x[:3], new=5, batch=3)), "beam search must not depend on batching"
    s1 = lm.generate(model, x[:3], new=5, decoding="sample", seed=3)
    assert torch.equal(s1, lm.generate(model, x[:3], new=5, decoding="sample", seed=3))
    with pytest.raises(ValueError, match="decoding"):
        lm.generate(model, x, decoding="greedy")
    with pytest.raises(ValueError, match="repetition_penalty"):
        lm.generate(model, x, repetition_penalty=0.5)
    with pytest.raises(ValueError, match="blocks"):
        lm.token_losses(model, torch.zeros(3, 4))
    with pytest.raises(ValueError, match="outputs"):
        lm.continuations(torch.zeros(2, 10, dtype=torch.long), torch.ones(2, 4, dtype=torch.long), 6)
    assert torch.equal(lm.continuations(torch.arange(10).reshape(2, 5), torch.tensor([[0, 1], [5, 6]]), 3),
                       torch.tensor([[2, 3, 4], [7, 8, 9]]))


def test_training_lowers_the_loss_and_is_deterministic(tmp_path):
    model, tok = tiny_opt(tmp_path)
    x = torch.as_tensor(lm.blocks(lm.encode(tok, TEXT), 16))
    before = lm.perplexity(model, x)
    import copy

    a = lm.train(copy.deepcopy(model), x, epochs=3, batch=8, lr=3e-3, seed=1)
    b = lm.train(copy.deepcopy(model), x, epochs=3, batch=8, lr=3e-3, seed=1)
    assert lm.perplexity(a, x) < 0.5 * before
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    with pytest.raises(ValueError, match="epochs"):
        lm.train(model, x, epochs=0, batch=8, lr=1e-3)
    with pytest.raises(ValueError, match="lr"):
        lm.train(model, x, epochs=1, batch=8, lr=-1.0)
    with pytest.raises(TypeError, match="blocks"):
        lm.train(model, "text", epochs=1, batch=8, lr=1e-3)


def test_diversity_and_repeat_share():
    x = np.array([[1, 2, 1, 2, 1, 2], [3, 4, 5, 6, 7, 8]])
    d = lm.diversity(x)
    assert d["vocab"] == 8
    assert d["distinct_2_count"] == metrics.distinct_n(x.tolist(), 2)[0] == 7
    assert lm.repeat_share(x, 2) == pytest.approx((1 - 2 / 5 + 0) / 2)
    with pytest.raises(ValueError, match="n must"):
        lm.repeat_share(x, 0)


def test_validation_of_the_chain_api(tmp_path, parts):
    with pytest.raises(ValueError, match="setting"):
        lm.chain("c", profile="quick", parts=parts)
    with pytest.raises(TypeError, match="setting"):
        lm.chain(1, profile="quick", parts=parts)
    with pytest.raises(ValueError, match="generations"):
        lm.chain("a", generations=-1, profile="quick", parts=parts)
    with pytest.raises(ValueError, match="policy"):
        lm.experiment("nope", profile="quick")
    with pytest.raises(ValueError, match="profile"):
        lm.sizes("huge")
    with pytest.raises(TypeError, match="out"):
        lm.run_experiment(5, profile="quick")
    with pytest.raises(ValueError, match="setting"):
        lm.run_experiment(tmp_path, profile="quick", setting="zz")
    with pytest.raises(TypeError, match="penalties"):
        lm.ablation(parts[0], parts[2].train[:2], penalties="2")
    with pytest.raises(ValueError, match="penalties"):
        lm.ablation(parts[0], parts[2].train[:2], penalties=[0.5])
    with pytest.raises(ValueError, match="decoding"):
        lm.family(parts[0], parts[2].train, epochs=1, batch=8, lr=1e-3, decoding="top-k")
    with pytest.raises(ValueError, match="model must"):
        lm.config({"layers": 2})
    with pytest.raises(ValueError, match="labels"):
        lm.side_by_side(parts[1], parts[2].train[:1], parts[0], labels=["a", "b"])
    with pytest.raises(ValueError, match="seq_ppl"):
        lm.plot_seq_ppl(loop.History())


# --------------------------------------------------------------------------------------------------------------
# the base model and the profiles


def test_quick_base_is_cached_and_loads_identically(parts):
    path = lm.ensure_base("quick")
    assert path == lm.base_source("quick") and path.startswith(str(lm.cache_dir()))
    meta = json.loads(open(f"{path}/collapse_lab.json").read())
    assert meta["model"] == lm.sizes("quick").model and meta["tokens"] > 100_000
    (m1, _), (m2, _) = lm.load(path), lm.load(path)
    x = parts[2].test[:4]
    with torch.no_grad():
        assert torch.equal(m1(input_ids=x).logits, m2(input_ids=x).logits)
    n_params = sum(p.numel() for p in m1.parameters())
    assert 0.5e6 < n_params < 1e6
    # pretraining worked: on test text in the base's own (ordinary) typography, far below the uniform perplexity of a
    # 2,048-token vocabulary; WikiText-2's typography, which only fine-tuning teaches, is much harder for it
    from collapse_lab import data

    test = lm.drop_unk(data.wikitext("test"))
    plain = torch.as_tensor(lm.spread(lm.blocks(lm.encode(parts[1], lm.detokenize(test))), 128))
    assert lm.perplexity(m1, plain) < 300
    assert lm.perplexity(m1, parts[2].test) > 1.2 * lm.perplexity(m1, plain)
    # the folder name is a hash of the config: another config, another folder
    assert lm.base_key(lm.sizes("quick")) == lm.base_key(lm.sizes("standard")), "one base for both"


def test_corpus_roles(parts):
    _, tok, c = parts
    s = lm.sizes("quick")
    assert tuple(c.train.shape) == (s.n_train, 64) and tuple(c.test.shape) == (s.n_test, 64)
    assert not set(map(tuple, c.train.tolist())) & set(map(tuple, c.test.tolist()))
    # no <unk> placeholder in the text the models learn from or are tested on
    assert tok.unk_token_id not in set(c.train.ravel().tolist()) | set(c.test.ravel().tolist())
    assert "<unk>" not in tok.decode(c.train.ravel())


def test_drop_unk_and_detokenize():
    assert lm.drop_unk("a <unk> lobster , <unk> larvae .") == "a lobster , larvae ."
    wiki = " = = Description = = \n It weighs 1 @,@ 000 kg ( 2 @.@ 2 t ) , the \" red \" one 's size . \n"
    assert lm.detokenize(wiki) == "Description\nIt weighs 1,000 kg (2.2 t), the \"red\" one's size.\n"
    for f in (lm.drop_unk, lm.detokenize):
        with pytest.raises(TypeError, match="text"):
            f(5)
    # both shape the base: their code is part of its cache key
    assert {"drop_unk", "detokenize"} <= set(lm.TRAINER_CODE)


def test_paper_profile_code_path_on_a_local_tiny_opt(tmp_path, monkeypatch):
    """The paper profile loads its base by name with from_pretrained and WikiText-2 train/test through data.wikitext:
    here the name points at a tiny local OPT and the data folder at tiny files, so nothing is downloaded."""
    model_dir, data_dir = tmp_path / "tiny-opt", tmp_path / "data" / "wikitext-2"
    tiny_opt(model_dir)
    data_dir.mkdir(parents=True)
    (data_dir / "train.txt").write_text(TEXT[: len(TEXT) // 2])
    (data_dir / "test.txt").write_text(TEXT[len(TEXT) // 2:])
    for k, v in {"COLLAPSE_LAB_LM_BASE": str(model_dir), "COLLAPSE_LAB_DATA": str(tmp_path / "data"),
                 "COLLAPSE_LAB_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}.items():
        monkeypatch.setenv(k, v)
    assert lm.base_source("paper") == str(model_dir) and lm.ensure_base("paper") == str(model_dir)
    h = lm.experiment("mix", generations=1, profile="paper")
    assert h["generation"].tolist() == [0, 1] and np.all(np.isfinite(h["distance"]))
    assert h.meta["profile"] == "paper" and h.rows[0]["n_train"] == h.rows[1]["n_train"] > 5
    monkeypatch.delenv("COLLAPSE_LAB_LM_BASE")
    assert lm.base_source("paper") == "facebook/opt-125m"


# --------------------------------------------------------------------------------------------------------------
# the chapter's result


def test_chains_collapse_from_a_real_fine_tune(parts, chains):
    a, b = chains["a"]["test_ppl"], chains["b"]["test_ppl"]
    assert len(a) == len(b) == lm.sizes("quick").generations + 1
    base_ppl = lm.perplexity(parts[0], parts[2].test)
    assert a[0] < 0.8 * base_ppl and b[0] < 0.8 * base_ppl, f"generation 0 is a real fine-tune: {base_ppl} -> {a[0]}"
    assert a[-1] > 1.3 * a[0] and min(a[1:]) > 1.2 * a[0], f"setting (a) should collapse: {a}"
    # beam-search text is what the generation-0 model finds most likely: its perplexity collapses far below the real
    seq = chains["a"].meta["seq_ppl"]
    assert np.median(seq[1]) < 0.3 * np.median(seq[0])
    assert chains["a"]["vocab"][-1] < 0.2 * chains["a"]["vocab"][0]
    assert chains["b"]["vocab"][-1] > chains["a"]["vocab"][-1]
    assert np.allclose(chains["a"]["distance"], a)
    # the text each generation trained on is kept, and its diversity is what the columns say
    text = chains["a"].meta["text"]
    assert sorted(text) == list(chains["a"]["generation"])
    assert [lm.diversity(text[g])["vocab"] for g in sorted(text)] == chains["a"]["vocab"].tolist()


def test_plot_generation(parts, chains):
    import matplotlib

    matplotlib.use("Agg")
    fig = lm.plot_generation(chains["a"], parts[1], 1)
    assert len(fig.axes) == 2 and "generation 1" in fig.axes[1].get_legend().get_texts()[1].get_text()
    with pytest.raises(ValueError, match="generation"):
        lm.plot_generation(chains["a"], parts[1], 99)
    with pytest.raises(TypeError, match="history"):
        lm.plot_generation(loop.History(), parts[1], 0)


def test_experiment_policies_share_generation_zero(parts, chains):
    h = lm.experiment("replace", generations=1, profile="quick")
    assert np.allclose(h["distance"], chains["a"]["test_ppl"][:2], rtol=1e-6), "experiment('replace') is setting (a)"


def test_cli_run_writes_everything_and_resumes_exactly(tmp_path, chains, capsys):
    from collapse_lab import cli

    out = tmp_path / "run"
    assert cli.main(["run", "lm", "--profile", "quick", "--generations", "1", "--out", str(out)]) == 0
    first = json.loads((out / "metrics.json").read_text())["rows"]
    assert [r["generation"] for r in first] == [0, 1]
    assert cli.main(["run", "lm", "--profile", "quick", "--generations", "2", "--out", str(out)]) == 0
    assert "resuming after generation 1" in capsys.readouterr().out
    rows = json.loads((out / "metrics.json").read_text())["rows"]
    assert [r["generation"] for r in rows] == [0, 1, 2]
    assert rows[:2] == first, "a resumed run keeps the finished generations untouched"
    # the resumed run gives the numbers of one uninterrupted chain with the same seed
    assert np.allclose([r["test_ppl"] for r in rows], chains["a"]["test_ppl"][:3], rtol=1e-6)
    for f in ("metrics.csv", "seq_ppl.json", "samples.txt", "test_ppl.png", "seq_ppl.png", "ckpt/gen0/config.json",
              "ckpt/last/config.json"):
        assert (out / f).is_file(), f
    assert len(json.loads((out / "seq_ppl.json").read_text())) == 3
    assert "generation 2" in (out / "samples.txt").read_text()
    with pytest.raises(ValueError, match="holds a run"):
        lm.run_experiment(out, profile="quick", generations=3, setting="b")


# --------------------------------------------------------------------------------------------------------------
# the exercise checks: the reference passes, a wrong answer fails


def test_checks_pass_references_and_fail_wrong_answers():
    def pack(ids, size):
        ids = np.asarray(ids)
        return ids[: len(ids) // size * size].reshape(-1, size)

    def ppl(losses):
        losses = np.asarray(losses)
        return float(np.exp(losses.mean())), np.exp(losses.mean(axis=1))

    def nxt(prompts, outputs):
        prompts, outputs = np.asarray(prompts), np.asarray(outputs)
        if not (outputs[:, : prompts.shape[1]] == prompts).all():
            raise ValueError("outputs must start with the prompts")
        return outputs[:, prompts.shape[1]:]

    def mix(real, synthetic, fraction, rng):
        k = int(round(fraction * len(real)))
        return np.concatenate([real[rng.choice(len(real), k, replace=False)], synthetic])

    ch4 = checks.ch4
    ch4.pack_blocks(pack)
    ch4.perplexities(ppl)
    ch4.next_training_set(nxt)
    ch4.distinct_n(metrics.distinct_n)
    ch4.mix_training_set(mix)
    wrong = {
        "pack_blocks": lambda ids, size: np.asarray(ids)[: -(len(ids) % size) or None].reshape(-1, size)[:1],
        "perplexities": lambda losses: (float(np.exp(np.asarray(losses)).mean()), np.exp(np.asarray(losses).mean(1))),
        "next_training_set": lambda prompts, outputs: np.asarray(outputs)[:, np.asarray(prompts).shape[1]:],
        "distinct_n": lambda seqs, n: metrics.distinct_n([[t for s in seqs for t in s]], n),
        "mix_training_set": lambda real, synthetic, fraction, rng: np.concatenate(
            [real[: int(round(fraction * len(real)))], synthetic]),
    }
    for name, fn in wrong.items():
        with pytest.raises(CheckFailed):
            getattr(ch4, name)(fn)

    def todo(*args):
        raise NotImplementedError()

    for name in wrong:
        with pytest.raises(CheckFailed, match="not written yet"):
            getattr(ch4, name)(todo)


def test_side_by_side_writes_once_for_a_model_given_twice(parts, monkeypatch):
    base, tok, c = parts
    prompts = c.train[:2]
    calls = []
    real = lm.generate
    monkeypatch.setattr(lm, "generate", lambda *a, **k: calls.append(1) or real(*a, **k))
    rows = lm.side_by_side(tok, prompts, base, base, labels=["first", "again"])
    assert len(calls) == 1
    assert all(r["first"] == r["again"] for r in rows)
    other = lm.side_by_side(tok, prompts, base, labels=["alone"])  # the same text as a model given once
    assert [r["alone"] for r in other] == [r["first"] for r in rows]
