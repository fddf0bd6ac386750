"""The chapter's settings: each profile's sizes, the released code's latent spreads, the held-out share."""
from __future__ import annotations

from types import SimpleNamespace

from .. import profiles

SIZES = {
    # 8x8 digits: half the released code's channels, batches of 64 (1,437 images make only 6 batches of 256), 20
    # epochs at lr 3e-3 (in our runs about as good a generation 0 as 60 epochs at 1e-3, in a third of the time), one torch
    # thread (tiny convolutions: threads cost more than they save). 4 generations after generation 0 = five rows,
    # as many as the five spreads of the released code.
    "quick": {"data": "digits", "channels": (32, 64), "latent": 20, "epochs": 20, "batch": 64, "lr": 3e-3,
              "weight_decay": 1e-5, "generations": 4, "n_eval": 1000, "clf_epochs": 20, "clf_hidden": 64,
              "threads": 1},
    # MNIST, reduced from the paper so one run takes a few minutes on 2 CPU cores: half the channels, 8 epochs
    # instead of 30, in batches of 64 (more steps for the same compute: in our runs generation 0 reached 113 nats
    # per image after 6 epochs of batch 64, 125 after 10 epochs of batch 256); one thread (on a busy 2-core
    # machine we measured 3,000 images/s with one thread, 800 with two)
    "standard": {"data": "mnist", "channels": (32, 64), "latent": 20, "epochs": 8, "batch": 64, "lr": 1e-3,
                 "weight_decay": 1e-5, "generations": 4, "n_eval": 2000, "clf_epochs": 4, "clf_hidden": 128,
                 "threads": 1},
    # the released code's architecture and training settings (threads None: torch's default); the data are still
    # 8,000 images of the MNIST test split, so this is not the paper's data set
    "paper": {"data": "mnist", "channels": (64, 128), "latent": 20, "epochs": 30, "batch": 256, "lr": 1e-3,
              "weight_decay": 1e-5, "generations": 4, "n_eval": 2000, "clf_epochs": 4, "clf_hidden": 128,
              "threads": None},
}

#: the released code's latent spread (pooled std of the generation-0 encoder's means) of the samples of generations 1
#: to 5, the five VAEs trained on synthetic data; the real-data VAE (generation 0) is the ruler, not measured there
PAPER_SPREAD = (0.674, 0.608, 0.527, 0.468, 0.433)
PAPER_SPREAD_GENERATIONS = (1, 2, 3, 4, 5)
HELD_OUT = 0.2  # share of the images never trained on
N_CLASSES = 10


def sizes(profile: str | None = None) -> SimpleNamespace:
    """Every size of this chapter for ``profile`` (default: the active profile), as attributes."""
    return profiles.pick(SIZES, profile)
