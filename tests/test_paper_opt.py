"""The paper profile's language-model path at the paper's model size, offline: an OPT with exactly facebook/opt-125m's
configuration (random weights) and a byte-level BPE tokenizer trained here, the raw WikiText-2 read through the
`datasets` call of the paper profile from local files in the hub data set's layout, `collapse-lab run lm --profile
paper` for generation 0, then resumed for generation 1.

Prints CPU seconds per training step and per generated token and the peak memory (RSS) of the process.
"""
import math
import os
import resource
import time

import numpy as np
import pytest

from collapse_lab import cli, data, lm

datasets = pytest.importorskip("datasets",
                               reason="the paper profile reads WikiText-2 with `datasets` (pip install -e .[paper])")
pa = pytest.importorskip("pyarrow", reason="the hub layout of WikiText-2 is parquet (pyarrow comes with datasets)")
import pyarrow.parquet as pq  # noqa: E402

#: facebook/opt-125m's config.json (the hub's), the fields that set its size
OPT_125M = dict(vocab_size=50272, hidden_size=768, word_embed_proj_dim=768, num_hidden_layers=12,
                num_attention_heads=12, ffn_dim=3072, max_position_embeddings=2048, do_layer_norm_before=True,
                activation_function="relu", dropout=0.1, attention_dropout=0.0, pad_token_id=1, bos_token_id=2,
                eos_token_id=2, enable_bias=True)
README = """---
configs:
- config_name: wikitext-2-raw-v1
  data_files:
  - split: test
    path: wikitext-2-raw-v1/test-*
  - split: train
    path: wikitext-2-raw-v1/train-*
  - split: validation
    path: wikitext-2-raw-v1/validation-*
---
# WikiText-2 (raw), a few lines in the layout of the hub data set, for an offline test
"""


def _block(text, tok, start):
    """(lines, next): whole lines of ``text`` from line ``start`` on that hold one 64-token block and less than two
    (lines longer than half a block are skipped), and the index of the line after them."""
    rows = text.splitlines(keepends=True)
    out, i = [], start
    while len(lm.encode(tok, "".join(out))) < lm.BLOCK + 8:
        if len(lm.encode(tok, rows[i])) <= lm.BLOCK // 2:
            out.append(rows[i])
        i += 1
    return out, i


def _hub_layout(root, splits):
    (root / "wikitext-2-raw-v1").mkdir(parents=True)
    (root / "README.md").write_text(README)
    for split, rows in splits.items():
        pq.write_table(pa.table({"text": rows}), root / "wikitext-2-raw-v1" / f"{split}-00000-of-00001.parquet")


@pytest.fixture(scope="module")
def opt125m(tmp_path_factory):
    """(model folder, WikiText folder): OPT-125m-sized random OPT + a tokenizer trained on the shared text."""
    from transformers import OPTConfig, OPTForCausalLM

    root = tmp_path_factory.mktemp("opt125m")
    text = data.wikitext("valid")
    t = time.process_time()
    tok = lm.train_tokenizer(text, 50265)  # OPT's GPT-2 tokenizer has 50,265 entries, its embedding 50,272 rows
    model = OPTForCausalLM(OPTConfig(**OPT_125M))
    n = sum(p.numel() for p in model.parameters())
    assert 125_000_000 < n < 125_300_000, n  # facebook/opt-125m: 125,239,296 parameters (tied embeddings)
    model.save_pretrained(root / "model")
    tok.save_pretrained(root / "model")
    del model
    # one 64-token block to fine-tune on and one to test on, lines from the middle of the shared text: the costs
    # per training step and per generated token, which the test prints, do not depend on the number of blocks
    train, i = _block(text, tok, 2000)
    test, _ = _block(text, tok, i + 50)
    _hub_layout(root / "wikitext", {"train": train, "validation": test, "test": test})
    print(f"\nOPT-125m-sized base built and saved in {time.process_time() - t:.0f} CPU s ({n:,} parameters)")
    return root / "model", root / "wikitext"


@pytest.mark.slow
def test_opt125m_paper_profile_runs_and_resumes(opt125m, tmp_path, monkeypatch, capsys):
    model_dir, wikitext = opt125m
    for k, v in {lm.BASE_ENV: str(model_dir), lm.WIKITEXT_ENV: str(wikitext), "HF_DATASETS_OFFLINE": "1",
                 "HF_HUB_OFFLINE": "1", "HF_DATASETS_CACHE": str(tmp_path / "hf"), "COLLAPSE_LAB_OFFLINE": "1"}.items():
        monkeypatch.setenv(k, v)
    # `datasets` read $HF_DATASETS_CACHE when it was imported, above; its cache of a local folder is keyed by the
    # folder's name and layout, not by its text, so a cache from an earlier run would serve that run's text
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf")
    monkeypatch.setattr(lm, "_LOADED", {})
    s = lm.sizes("paper")
    assert lm.base_source("paper") == str(model_dir)
    stats = {"train": [0.0, 0], "generate": [0.0, 0]}
    train, generate = lm.train, lm.generate

    def timed_train(model, blocks, *, epochs, batch, **kw):
        t = time.process_time()
        out = train(model, blocks, epochs=epochs, batch=batch, **kw)
        stats["train"][0] += time.process_time() - t
        stats["train"][1] += epochs * math.ceil(len(blocks) / batch)
        return out

    def timed_generate(model, prompts, **kw):
        t = time.process_time()
        out = generate(model, prompts, **kw)
        stats["generate"][0] += time.process_time() - t
        stats["generate"][1] += out.numel()
        return out

    monkeypatch.setattr(lm, "train", timed_train)
    monkeypatch.setattr(lm, "generate", timed_generate)
    out = tmp_path / "run"
    args = ["run", "lm", "--profile", "paper", "--setting", "a", "--out", str(out)]
    assert cli.main([*args, "--generations", "0"]) == 0
    first = capsys.readouterr().out
    for f in ("metrics.json", "metrics.csv", "seq_ppl.json", "samples.txt", "test_ppl.png", "seq_ppl.png",
              "ckpt/state.json", "ckpt/gen0/config.json", "ckpt/last/model.safetensors"):
        assert (out / f).is_file(), f
    assert "resuming" not in first
    monkeypatch.setattr(lm, "_LOADED", {})  # a new process would load everything again
    assert cli.main([*args, "--generations", "1"]) == 0
    second = capsys.readouterr().out
    assert "resuming after generation 0" in second
    h = lm.loop.History.from_json(out / "metrics.json")
    assert h["generation"].tolist() == [0, 1] and np.all(np.isfinite(h["test_ppl"]))
    assert h.rows[0]["n_train"] == h.rows[1]["n_train"] == 1  # every block of the (tiny) train split
    assert '"generation": 1' in (out / "ckpt" / "state.json").read_text()
    from transformers import OPTConfig

    cfg = OPTConfig.from_pretrained(out / "ckpt" / "last")
    assert (cfg.num_hidden_layers, cfg.hidden_size, cfg.ffn_dim, cfg.vocab_size) == (12, 768, 3072, 50272)
    steps, tokens = stats["train"][1], stats["generate"][1]
    assert steps == 2 * lm.SETTINGS["a"]["epochs"] and tokens > 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    with capsys.disabled():
        threads = os.environ.get(lm.THREADS_ENV, "").strip() or "1"
        print(f"\nOPT-125m size on CPU ({threads} torch thread(s), paper batch {s.batch} x 64 tokens, "
              f"here {lm.BLOCK} tokens per step): {stats['train'][0] / steps:.1f} CPU s per training step "
              f"({steps} steps); {stats['generate'][0] / tokens:.3f} CPU s per generated token "
              f"({tokens} tokens, {lm.BEAMS}-way beam search); peak memory (RSS) {peak:,.0f} MiB")
