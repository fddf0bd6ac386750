"""Chapter 5's sizes per profile."""
from __future__ import annotations



from .. import profiles


SIZES = {
    # lr_*: the linear regression of Gerstgrasser et al. (d features, T samples, noise s, n iterations, reps
    #   Monte-Carlo replications for the vectorised simulation, loop_reps for the loop.run version);
    # table_*: the cross-family table (generations None = the family's own default; seeds averaged per family;
    #   table_profiles: a family run in another profile's sizes, e.g. the VAE and the language model in 'quick'
    #   inside the standard profile, so that the table stays a few minutes);
    # sweep_*: the real-fraction sweep; chain_*: the one-real-point chains; verify_*: the verifier experiment;
    # monitor_*: the tail monitor (monitor_n fresh samples per generation, words_M tokens per generation).
    "quick": {"lr_d": 10, "lr_T": 50, "lr_s": 1.0, "lr_n": 20, "lr_reps": 4000, "loop_reps": 200,
              "table_generations": {"gaussian": 100, "gmm": 50, "vae": 1, "lm": 1},
              "table_seeds": {"gaussian": 10, "gmm": 1}, "table_profiles": {},
              "sweep_fractions": (0.0, 0.01, 0.05, 0.1, 0.25, 0.5), "sweep_seeds": {"gaussian": 20, "gmm": 2},
              "sweep_generations": {"gaussian": 100, "gmm": 50}, "sweep_last": 10,
              "chain_M": 20, "chain_generations": 150, "chains": 400, "gauss_M": 20, "gauss_generations": 300,
              "verify_generations": 25, "verify_chains": 30,
              "monitor_generations": 60, "monitor_n": 20000, "monitor_chains": 20, "words_M": 20000,
              "words_generations": 30},
    "standard": {"lr_d": 10, "lr_T": 50, "lr_s": 1.0, "lr_n": 20, "lr_reps": 10000, "loop_reps": 500,
                 "table_generations": {"gaussian": 300, "gmm": 50, "vae": 2, "lm": 2},
                 "table_seeds": {"gaussian": 20, "gmm": 2}, "table_profiles": {"vae": "quick", "lm": "quick"},
                 "sweep_fractions": (0.0, 0.01, 0.05, 0.1, 0.25, 0.5), "sweep_seeds": {"gaussian": 50, "gmm": 2},
                 "sweep_generations": {"gaussian": 300, "gmm": 50}, "sweep_last": 20,
                 "chain_M": 20, "chain_generations": 300, "chains": 2000, "gauss_M": 20, "gauss_generations": 1000,
                 "verify_generations": 40, "verify_chains": 100,
                 "monitor_generations": 100, "monitor_n": 50000, "monitor_chains": 50, "words_M": 50000,
                 "words_generations": 50},
    "paper": {"lr_d": 10, "lr_T": 50, "lr_s": 1.0, "lr_n": 50, "lr_reps": 50000, "loop_reps": 2000,
              # the GMM at the paper's N = 1,000; the VAE and the language model in their quick sizes, as in
              # standard: their paper scale is Chapters 3 and 4's (GPU), and this table compares policies, not
              # model sizes. accumulate trains on all the data so far, so its cost grows with the square of the
              # generations: the table stops at 500 (Gaussian) and 100 (GMM) so that the chapter runs in under 10
              # minutes on 2 cores; the sweep (mix keeps N points) runs longer chains.
              "table_generations": {"gaussian": 500, "gmm": 100, "vae": 2, "lm": 2},
              "table_seeds": {"gaussian": 50, "gmm": 5}, "table_profiles": {"vae": "quick", "lm": "quick"},
              "sweep_fractions": (0.0, 0.01, 0.05, 0.1, 0.25, 0.5), "sweep_seeds": {"gaussian": 100, "gmm": 5},
              "sweep_generations": {"gaussian": 1000, "gmm": 200}, "sweep_last": 50,
              "chain_M": 20, "chain_generations": 1000, "chains": 10000, "gauss_M": 20, "gauss_generations": 3000,
              "verify_generations": 100, "verify_chains": 500,
              # 50,000 samples per check keep the tail statistic's noise (1/sqrt(q N) = 4.5%) far below tol
              "monitor_generations": 300, "monitor_n": 50000, "monitor_chains": 100, "words_M": 200000,
              "words_generations": 100},
}


def sizes(profile: str | None = None):
    """This chapter's sizes for ``profile`` (default: the active profile), as attributes."""
    return profiles.pick(SIZES, profile)
