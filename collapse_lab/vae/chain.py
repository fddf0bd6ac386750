"""The chapter's chain: a VAE per generation, each trained from scratch on the data a policy builds, judged."""
from __future__ import annotations

from .. import loop, metrics, runtime, vae
from ..validate import integer as _int, seed as _seed


def experiment(policy="replace", *, generations: int | None = None, seed: int = 0,
               profile: str | None = None, shared: dict | None = None) -> loop.History:
    """The chapter's chain: a VAE per generation, each trained from scratch on the data ``policy`` builds.

    ``policy``: 'replace' (the paper: only the previous generation's decoded samples), 'accumulate', 'mix', 'anchor'
    or a ``loop.policy(...)`` object. ``generations``: default the profile's. Returns the :class:`loop.History` with
    columns ``generation, n_train, distance, spread, pooled_spread, entropy, share_0..share_9, seconds``; every
    model is kept in ``history.models``; ``history.meta`` adds the data set, the classifier's held-out ``accuracy``,
    ``floor`` (the Frechet distance of the real training images to the held-out ones: sampling noise, the best a
    model can do), ``real_entropy`` and ``real_share`` (class entropy in bits and class shares (10,) of the
    classifier's labels on the real held-out images) and ``recon_share`` (the class shares of generation 0's
    reconstructions of those images, :func:`reconstruct`: what the first fit makes of real digits without the prior).

    ``shared``: a dict kept across calls that differ only in ``policy`` or ``generations`` (the policy table
    passes one): generation 0 is trained on the real images alone, the same under every policy, so the first call
    stores it there and the others reuse it (``loop.run(gen0=...)``), with the same numbers. Keyed by the seed, the
    sizes, the device and the training code, so other settings never share it; the histories share that model.
    """
    s = vae.sizes(profile)
    generations = s.generations if generations is None else _int("generations", generations, 0)
    seed = _seed("seed", seed)
    pol = loop.policy(policy)  # validates the name before any training
    if shared is not None and not isinstance(shared, dict):
        raise TypeError(f"shared must be a dict (kept across calls that differ only in policy) or None; got "
                        f"{type(shared).__name__}")
    # everything that shapes generation 0's model: the data are named by the sizes, the code is the trainer
    key = ("vae", seed, repr(sorted(vars(s).items())), runtime.device(), vae.train)
    gen0 = None if shared is None else shared.setdefault(key, {})
    d, clf = vae.dataset(s.profile), vae.classifier(s.profile)
    with vae.threads(s.threads):
        judge = vae.Judge(clf, d.test, s.n_eval, seed)
        h = loop.run(vae.family(profile=s.profile), d.train, generations, policy=pol, metrics=judge.metrics(),
                     seed=seed, keep=range(generations + 1), gen0=gen0, desc=f"VAE · {pol!r}")
        floor = metrics.frechet_from_features(judge.real_features, clf.features(d.train))
        real_entropy = vae.class_entropy(judge.real_labels)  # judge's real images are d.test
        recon_share = vae.class_shares(clf.predict(vae.reconstruct(h.models[0], d.test)))
    h.meta.update(data=d.name, accuracy=clf.accuracy, profile=s.profile, seed=seed, floor=floor,
                  real_entropy=real_entropy, real_share=vae.class_shares(judge.real_labels), recon_share=recon_share)
    return h
