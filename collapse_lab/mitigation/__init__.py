"""Chapter 5: what prevents collapse. Accumulate, keep real data, verify, monitor the tails.

Everything here sits on top of the generational loop (:mod:`collapse_lab.loop`) and the family chapters; it adds no
new model of its own except the small ones the mitigation papers reason with:

- **Replace vs accumulate** (Gerstgrasser et al. 2024, "Is Model Collapse Inevitable?"): ridgeless
  linear regression, d isotropic Gaussian features, T samples per iteration, label noise s. The *test error* here
  is the excess risk ``E||w_n - w*||^2`` (with isotropic features the test MSE is s^2 plus this): iteration n = 1
  is the fit on the real data, each later iteration refits on labels the previous fit wrote on the same design
  matrix X (the paper's fixed design). Then, averaged over X and the noise,

      replace:     E_n = s^2 d/(T-d-1) * n
      accumulate:  E_n = s^2 d/(T-d-1) * sum_{i<=n} 1/i^2   (< s^2 d/(T-d-1) * pi^2/6)

  :func:`linreg_formula` gives both, :func:`linreg_simulate` simulates them (vectorised, many replications),
  :func:`linreg_family` + :func:`linreg_experiment` run the same model through :func:`loop.run` with any policy.
  The loop's generation g is the paper's iteration n = g + 1.
- **The cross-family policy table**: :func:`policy_table` runs every available family's ``experiment`` with the
  policies replace / accumulate / mix 10% / anchor (one real point) and reports the final ``distance``.
- **How much real data is enough**: :func:`fraction_sweep` (mix with fraction f of real data each generation).
  :func:`by_policy` runs one experiment under several policies side by side.
- **One real point per generation** (Jangjoo, Marsili, Roudi, PRL 136, 197301, 2026): :func:`categorical_chain`
  (Bernoulli = 2 categories) and :func:`gaussian_chain`, maximum likelihood vs an anchor of k real points vs a
  MAP / regularised fit.
- **Verification** (Yi, Liu, Cheng, Xu 2025): :class:`Verifier` and the policy :class:`Filtered`.
- **Tail monitoring**: :class:`Monitor`, a per-generation report with a tunable tolerance and alerts.
- **Synthesis**: :func:`format_table` prints the closing table the notebook builds from measured numbers.

The package's files, one concept each: ``sizes``, ``linreg`` (Section 1), ``policies`` (Sections 2 and 3: the table
and the sweep), ``anchor`` (Section 4), ``verification``, ``monitoring`` and ``tables``. Every public name is
available as ``mitigation.NAME``.
"""

from .sizes import SIZES, sizes
from .linreg import linreg_formula, linreg_bound, linreg_simulate, linreg_family, linreg_error, linreg_experiment
from .policies import (
    FAMILIES, TABLE_POLICIES, make_policy, available_families, policy_table, fraction_sweep, minimal_fraction,
    by_policy,
)
from .anchor import categorical_chain, gaussian_chain, anchored_stationary
from .verification import Verifier, Filtered, verified_chains
from .monitoring import KINDS, Monitor, first_alert, gaussian_monitor_runs, words, word_chain
from .tables import format_table

__all__ = [
    'SIZES', 'sizes', 'linreg_formula', 'linreg_bound', 'linreg_simulate', 'linreg_family', 'linreg_error',
    'linreg_experiment', 'FAMILIES', 'TABLE_POLICIES', 'make_policy', 'available_families', 'policy_table',
    'fraction_sweep', 'minimal_fraction', 'by_policy', 'categorical_chain', 'gaussian_chain', 'anchored_stationary',
    'Verifier', 'Filtered', 'verified_chains', 'KINDS', 'Monitor', 'first_alert', 'gaussian_monitor_runs',
    'words', 'word_chain', 'format_table',
]
