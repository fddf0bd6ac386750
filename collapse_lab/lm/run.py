"""``collapse-lab run lm``: one chain outside a notebook, written into a folder and resumable.

Paper scale on several GPUs (untested here: no GPU, no network, no ``accelerate`` in the course's environment)::

    pip install -e .[paper]
    accelerate config                      # once
    accelerate launch -m collapse_lab.cli run lm --profile paper --setting a --generations 10 --out runs/lm-a

What runs in parallel under ``accelerate launch`` is described in ``collapse_lab.lm.devices``.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from .. import lm, loop
from ..runtime import as_rng
from ..validate import integer as _int, seed as _seed
from .protocol import SETTINGS, _setting


def run_experiment(out, profile=None, generations=None, seed=0, setting="replace") -> loop.History:
    """Run one setting's chain into folder ``out``, resumable from the last finished generation.

    Writes ``metrics.json`` / ``metrics.csv`` (one row per generation), ``seq_ppl.json``, ``samples.txt``
    (generation 0 vs last on the same prompts), figures ``test_ppl.png`` and ``seq_ppl.png``, and checkpoints
    ``ckpt/gen0`` (the scoring model) and ``ckpt/last`` (+ ``state.json``: generation and random state). Run it
    again with more ``generations`` and it continues after the last finished one; the numbers are the same as one
    uninterrupted run.
    """
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out must be a folder path; got {type(out).__name__}")
    s = lm.sizes(profile)
    setting = _setting(setting)
    gens = s.generations if generations is None else _int("generations", generations, 0)
    seed = _seed("seed", seed)
    out = Path(out)
    ck = out / "ckpt"
    main = lm.main_process()
    if main:
        ck.mkdir(parents=True, exist_ok=True)
    parts = lm.setup(s.profile)
    tok = parts[1]
    meta_path, state_path = out / "metrics.json", ck / "state.json"
    run_key = {"profile": s.profile, "setting": setting, "seed": seed}
    start, ref, seq, prev = None, None, {}, loop.History()
    if state_path.is_file() and meta_path.is_file():
        st = json.loads(state_path.read_text())
        if st["key"] != run_key:
            raise ValueError(f"out={str(out)!r} holds a run of {st['key']}, not {run_key}: use another folder")
        prev = loop.History.from_json(meta_path)
        seq = {int(k): v for k, v in json.loads((out / "seq_ppl.json").read_text()).items()}
        ref = lm.load(ck / "gen0")[0]
        g = st["generation"]
        if g >= gens:
            print(f"{out}: generations 0..{g} already done (asked for {gens}); nothing to run")
            return prev
        rng = np.random.default_rng()
        rng.bit_generator.state = st["rng"]
        start = (g, lm.load(ck / "last")[0], [])
        print(f"{out}: resuming after generation {g}")
    else:
        rng = as_rng(seed)
    rows = list(prev.rows)

    def save(g, model, h):
        if not main:
            return
        if g == 0:
            model.save_pretrained(ck / "gen0")
        tmp = ck / "last.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)
        shutil.rmtree(ck / "last", ignore_errors=True)
        tmp.rename(ck / "last")
        hist = loop.History(rows + h.rows, meta=dict(run_key, label=SETTINGS[setting]["label"]))
        hist.to_json(meta_path)
        hist.to_csv(out / "metrics.csv")
        (out / "seq_ppl.json").write_text(json.dumps(seq))
        # the state file last: a crash before this line re-runs generation g, never skips it
        state_path.write_text(json.dumps({"key": run_key, "generation": g, "rng": rng.bit_generator.state}))

    h = lm.chain(setting, generations=gens, seed=seed, profile=s.profile, parts=parts, ref=ref, seq_ppl=seq,
                 callback=save, start=start, rng=rng, keep=(gens,))
    h = loop.History(rows + h.rows, models=h.models, meta=dict(h.meta, **run_key))
    if main:
        ref = h.models[0]
        prompts = parts[2].train[: s.n_samples]
        sbs = lm.side_by_side(tok, prompts, ref, h.models[gens], labels=["generation 0", f"generation {gens}"])
        (out / "samples.txt").write_text("\n\n".join(
            f"PROMPT: {r['prompt']}\n\n" + "\n\n".join(f"[{k}] {v}" for k, v in r.items() if k != "prompt")
            for r in sbs))
        import matplotlib

        if "matplotlib.pyplot" not in __import__("sys").modules:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        lm.plot_chains([h], ax=ax)
        fig.savefig(out / "test_ppl.png", bbox_inches="tight")
        fig2, ax2 = plt.subplots()
        lm.plot_seq_ppl(h, ax=ax2)
        fig2.savefig(out / "seq_ppl.png", bbox_inches="tight")
        plt.close(fig)
        plt.close(fig2)
        print(h.table(["generation", "test_ppl", "train_ppl_median", "vocab", "distinct_2", "seconds"]))
        print(f"wrote {out}/metrics.json, metrics.csv, seq_ppl.json, samples.txt, test_ppl.png, seq_ppl.png")
    return h
