"""Benchmark: chapter 4's text generator, its fast path (``lm.kvcache``) against the library's plain path.

    python benchmarks/generation.py [--prompts 16] [--new 64] [--beams 5]

Writes ``--new`` tokens after ``--prompts`` prompts of 64 tokens by beam search (``--beams`` beams) and by sampling,
with ``lm.generate(..., fast=True)`` and ``fast=False``, on one torch thread, on two models: the tests' tiny random
OPT (1 layer, width 32, 300 tokens) and the quick profile's cached base (when this machine has it; it is not
trained here). Prints CPU seconds (the process's, so other work on the machine does not count) and tokens written
per CPU second for each path, the speed-up, and whether both paths wrote the same tokens (they must).
"""
import argparse
import os
import time

os.environ.setdefault("COLLAPSE_LAB_QUIET", "1")


def timed(f):
    t = time.process_time()
    out = f()
    return out, time.process_time() - t


def models():
    """(name, model, vocab size) of each model measured."""
    from transformers import OPTForCausalLM

    from collapse_lab import lm

    import torch

    torch.manual_seed(0)
    yield "tiny random OPT", OPTForCausalLM(lm.config(dict(layers=1, width=32, heads=2, vocab=300))).eval(), 300
    from pathlib import Path

    if Path(lm.base_source("quick")).is_dir():
        base, tok = lm.load_base("quick")
        yield "quick base", base, len(tok)
    else:
        print("(no cached quick base on this machine: measured on the tiny model only)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--new", type=int, default=64)
    ap.add_argument("--beams", type=int, default=5)
    a = ap.parse_args()
    import torch

    from collapse_lab import lm
    from collapse_lab.lm import kvcache

    torch.set_num_threads(1)
    kvcache.agrees()  # the once-per-process check, outside the timings
    print(f"{'model':<16} {'decoding':<10} {'fast s':>8} {'plain s':>8} {'fast tok/s':>11} {'plain tok/s':>12} "
          f"{'speed-up':>9}  same tokens")
    for name, model, vocab in models():
        prompts = torch.randint(3, vocab, (a.prompts, 64), generator=torch.Generator().manual_seed(1))
        for decoding in ("beam", "sample"):
            kw = dict(new=a.new, decoding=decoding, beams=a.beams, seed=0)
            fast, tf = timed(lambda: lm.generate(model, prompts, fast=True, **kw))
            plain, tp = timed(lambda: lm.generate(model, prompts, fast=False, **kw))
            n = a.prompts * a.new
            print(f"{name:<16} {decoding:<10} {tf:8.2f} {tp:8.2f} {n / tf:11.0f} {n / tp:12.0f} {tp / tf:8.2f}x  "
                  f"{bool(torch.equal(fast, plain))}")


if __name__ == "__main__":
    main()
