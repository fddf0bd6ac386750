"""Chapter 2: Gaussian mixture collapse (Shumailov et al., Nature 2024, the GMM experiment of the Methods).

A Gaussian mixture is fitted by EM (scikit-learn ``GaussianMixture``), N points are sampled from the fit, the next
mixture is fitted to those samples only, and so on. Three things go wrong at once, the paper's three error sources:

- **statistical** error: N samples never reproduce the mixture exactly; the weights drift like allele frequencies
  in a Wright-Fisher population (a binomial resampling) and the covariances shrink on average;
- **functional approximation** error: EM from a random (k-means) start can land in a local optimum, e.g. one
  component over two modes and two over one;
- **functional expressivity** error: a mixture with fewer components than modes cannot represent the truth at all.

A mixture is a :class:`Mixture` ``(weights (K,), means (K, d), covs (K, d, d))``. The two reference mixtures:

- :data:`TEACHING`: 2-D, three well separated modes with weights 0.6 / 0.3 / 0.1 (``MODES`` names them major,
  middle, minor): the minor mode is the one to watch;
- :data:`PAPER`: 2-D, two modes, for the paper's reference setting (:func:`paper`: 2 components, N = 1000,
  snapshots 0, 50, 100, 150, 200, 350, 2000). The paper's released code drew its data from one blob; here the data
  really are a mixture.

Definitions used throughout (the notebook explains them):

- **distance**: the L2 distance ``sqrt(integral (p - q)^2 dx)`` between two mixtures, in closed form (:func:`l2`).
- **matching**: original mode j is matched to a fitted component by the Hungarian algorithm on the squared
  Euclidean distances between means (:func:`match`), so per-mode weights and covariance determinants can be
  followed although EM numbers its components arbitrarily; a partner whose mean lies outside the mode's 99% ellipse
  does not represent it (weight 0, :func:`tracked`).
- **mass near a mode**: the probability the fitted mixture gives to mode j's original 99% ellipse
  ``{x : (x - mu_j)^T Sigma_j^-1 (x - mu_j) <= chi2_d(0.99)}`` (:func:`mode_mass`). It depends on the density only,
  not on how EM labels or splits its components.
- **mode lost**: mode j is lost at the first generation where its mass falls below ``LOST_BELOW`` = 1/10 of the mass
  the original mixture puts there (:func:`lost_generation`). The threshold is relative, so the minor mode is not
  declared lost sooner merely because it starts small; it is a first passage: a lost mode can, rarely, come back.
- **tail fraction**: the fraction of held-out real points where the generation-n density is below ``tau``, the
  density level under which the original mixture keeps only 1% of its own points (:func:`tail_threshold`); it starts
  near 1% and grows as the model forgets the regions it no longer covers.

The package's files, one concept each: ``sizes`` (the profiles' sizes), ``mixture`` (the type, the references,
sampling, densities, the L2 distance), ``fitting`` (EM), ``measures`` (following the modes, held-out measures),
``chains`` (the experiments), ``drift`` (chains without EM: pure weight drift and exact fits) and ``figures``.
Every public name is available as ``gmm.NAME``.
"""

from .sizes import SIZES, sizes
from .mixture import (
    Mixture, mixture, TEACHING, MODES, PAPER, LOST_BELOW, LEVEL, sample, logpdf, density, overlaps, l2,
)
from .fitting import one_thread, INITS, fit, family
from .measures import (
    match, tracked, mode_mass, mode_masses, lost_generation, weight_sd, heldout_loglik, tail_threshold,
    tail_fraction, metrics, total_variance,
)
from .chains import (
    data, experiment, first_loss, lockstep, experiments, first_losses, count_first, sweep, trend,
    error_sources, paper,
)
from .figures import extent, plot_density
from .drift import drift_chains, exact_chains, drift_masses, exact_masses, loss_generations, lost_by, histories

__all__ = [
    'SIZES', 'sizes', 'Mixture', 'mixture', 'TEACHING', 'MODES', 'PAPER', 'LOST_BELOW', 'LEVEL', 'sample',
    'logpdf', 'density', 'overlaps', 'l2', 'one_thread', 'INITS', 'fit', 'family', 'match', 'tracked',
    'mode_mass', 'mode_masses', 'lost_generation', 'weight_sd', 'heldout_loglik', 'tail_threshold',
    'tail_fraction', 'metrics', 'total_variance', 'data', 'experiment', 'first_loss', 'lockstep', 'experiments',
    'first_losses',
    'count_first', 'sweep', 'trend', 'error_sources', 'paper', 'extent', 'plot_density', 'drift_chains',
    'exact_chains', 'drift_masses', 'exact_masses', 'loss_generations', 'lost_by', 'histories',
]
