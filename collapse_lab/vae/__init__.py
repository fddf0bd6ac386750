"""Chapter 3: a variational autoencoder on handwritten digits, trained generation after generation on its own samples.

The paper's experiment (Shumailov et al., Nature 2024): every generation is trained from scratch on images decoded
from ``z ~ N(0, I)`` by the previous generation; no real data is kept. The settings come from the paper's released
code, not its text: a convolutional VAE (encoder 64 and 128 channels, kernel 4, stride 2, latent 20; a mirrored
decoder with a sigmoid output), loss = summed binary cross-entropy + KL, Adam (lr 1e-3, weight decay 1e-5), batch
256, 30 epochs per generation; so do the latent-spread numbers in :data:`PAPER_SPREAD` (generations 1 to 5) and two
choices the code makes: padding 1 in the convolutions and decoded means as samples.

Decisions where the paper's text is silent (the lecture notebook explains them too):

- **One architecture for 8x8 and 28x28.** Both convolutions use padding 1, so each halves the side exactly
  (8 -> 4 -> 2, 28 -> 14 -> 7) and the transposed convolutions double it back (2 -> 4 -> 8, 7 -> 14 -> 28). Any side
  divisible by 4 works; without padding 28 would go to 13 -> 5 and 8 to 3 -> 0. The quick profile (8x8 digits)
  uses narrower layers (see ``SIZES``); standard uses MNIST with a reduced budget; ``paper`` keeps the released
  code's architecture and training settings but trains on 8,000 images of the MNIST test split, not on the paper's
  data set (MNIST's 60,000-image training split is not shipped with the course).
- **A sample is the decoded mean** (the sigmoid output, grey levels in [0, 1]), not a Bernoulli draw from it. The
  VAE's randomness lives in ``z``; the Bernoulli likelihood is the usual device for grey-level images (BCE against
  targets in [0, 1]), and sampling pixels from it would add salt-and-pepper noise that real digits do not have.
  Decoded means are what VAE sample figures usually show. ``family(bernoulli=True)`` gives the other choice.
- **Latent spread**: encode a generation's samples with the *generation-0* encoder (a fixed ruler) and take the
  population standard deviation of the latent means over the images, averaged over the latent dimensions
  (:func:`spread`); the released code's statistic is the standard deviation of all latent means pooled together
  (:func:`pooled_spread`), which also counts how far the dimensions' averages lie apart. Both are recorded.
- **Diversity and fidelity** are judged by one small CNN classifier trained once on real training images: the class
  histogram of its predictions (entropy in bits; log2 10 = 3.32 bits is a uniform spread over ten digits) and the
  Frechet distance between the classifier's hidden features of real held-out images and of generated images.
- **Data**: quick uses scikit-learn's 1,797 8x8 digits (always offline); standard and paper use the 10,000 MNIST
  test images (``data.mnist('test')``). Either set is split once, stratified by label with a fixed seed, into 80%
  training images (generation 0 of the VAE and the classifier learn from these) and 20% held-out images (the
  classifier's accuracy and the Frechet reference use these; no model ever trains on them).

The chapter's code, one concept per file; every public name is reached as ``vae.NAME``:

- ``protocol``  each profile's sizes, the released code's latent spreads, the held-out share
- ``model``     the convolutional VAE, the reparameterisation and the loss
- ``training``  training a VAE (Adam, torch threads) and the VAE as a ``loop.Family``
- ``sampling``  decoded samples of the prior, latent means, reconstructions
- ``measures``  latent spread (per dimension and pooled), class shares and class entropy
- ``judge``     the chapter's real digits, the digit classifier trained once, and the judge of every generation
- ``chain``     the chapter's chain of generations under a data policy (:func:`experiment`)
- ``figures``   the chapter's plots

The files call each other's public functions through the package (``vae.train(...)``, not ``train(...)``): a
notebook or test that replaces ``vae.train`` then changes it for every caller, the chain's families included.
"""
from __future__ import annotations

from .protocol import HELD_OUT, N_CLASSES, PAPER_SPREAD, PAPER_SPREAD_GENERATIONS, SIZES, sizes
from .model import VAE, loss, reparameterise
from .training import family, threads, train
from .sampling import encode_means, reconstruct, sample
from .measures import class_entropy, class_shares, latent_spread, pooled_spread, spread
from .judge import Classifier, Judge, classifier, dataset
from .chain import experiment
from .figures import plot_classes, plot_curves, plot_generation, plot_samples

__all__ = [
    "HELD_OUT", "N_CLASSES", "PAPER_SPREAD", "PAPER_SPREAD_GENERATIONS", "SIZES", "sizes",
    "VAE", "loss", "reparameterise",
    "family", "threads", "train",
    "encode_means", "reconstruct", "sample",
    "class_entropy", "class_shares", "latent_spread", "pooled_spread", "spread",
    "Classifier", "Judge", "classifier", "dataset",
    "experiment",
    "plot_classes", "plot_curves", "plot_generation", "plot_samples",
]
