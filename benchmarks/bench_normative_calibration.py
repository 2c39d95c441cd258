"""False-positive rates of normative p-values on data made to suit the method.

The data are a mixture of three sites in 60 dimensions (site centres drawn
once, scale 3; noise of standard deviation 0.5 to 2 across dimensions). For
each seed, ``PCA(8)`` is fitted on 400 draws, a
:class:`~nidl.normative.NormativeModel` of it is calibrated on 100 more
(the PCA frozen), and 2,000 new draws of the same law are scored. Every
new draw is a healthy control, so the share whose p-value is at most 0.05
is the false-positive rate; a calibrated p-value keeps it at 0.05 or
below, up to sampling error (for conformal p-values from 100 controls, the
share given one calibration set varies with a standard deviation of about
0.02 around its mean).

Printed, for each way of computing the p-values (``p_values``) and each
``support_fraction`` of the robust covariance of the latents: the mean,
standard deviation, smallest and largest share over the seeds, for the
latent distance and the subject-level score, and for the voxel-level
ones, the share of features with a p-value at most 0.05 and the share of
draws with any feature flagged by the family-wise correction::

    p_values     support  latent: mean sd min max | subject: ... | features | fwe

Takes about 80 s of CPU time (16 seeds)::

    .venv/bin/python benchmarks/bench_normative_calibration.py [--seeds 16]
"""

import argparse

import numpy as np
from sklearn.decomposition import PCA
from sklearn.frozen import FrozenEstimator

from nidl.normative import NormativeModel

N_FEATURES = 60


def three_sites(n_samples, seed):
    """Draws of a three-site Gaussian mixture (the sites fixed, the draws of
    ``seed``)."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(1234).normal(scale=3.0, size=(3, N_FEATURES))
    site = rng.integers(0, 3, n_samples)
    noise = rng.normal(size=(n_samples, N_FEATURES)) * np.linspace(0.5, 2, N_FEATURES)
    return centres[site] + noise


def shares(seed, p_values, support_fraction, n_train=400, n_calibration=100,
           n_new=2000, alpha=0.05):
    """The shares of new draws flagged by each p-value at ``alpha``."""
    X = three_sites(n_train + n_calibration + n_new, seed)
    train, calibration, new = np.split(X, [n_train, n_train + n_calibration])
    pca = FrozenEstimator(PCA(8, random_state=0).fit(train))
    model = NormativeModel(pca, p_values=p_values, support_fraction=support_fraction,
                           random_state=seed).fit(calibration)
    deviations = model.deviations(new, correction="fwe")
    return {
        "latent": np.mean(deviations.latent_p_value <= alpha),
        "subject": np.mean(deviations.p_value <= alpha),
        "features": np.mean(deviations.p_values <= alpha),
        "fwe": np.mean(deviations.corrected_p_values.min(axis=1) <= alpha),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=16)
    args = parser.parse_args(argv)
    print("p_values     support  latent: mean   sd  min  max | subject: mean   sd"
          "  min  max | features |  fwe")
    for p_values in ("conformal", "parametric"):
        for support_fraction in (0.75, 1.0, None):
            runs = [shares(seed, p_values, support_fraction)
                    for seed in range(args.seeds)]

            def summary(key, runs=runs):
                values = np.array([run[key] for run in runs])
                return (f"{values.mean():.3f} {values.std(ddof=1):.3f} "
                        f"{values.min():.2f} {values.max():.2f}")

            features = np.mean([run["features"] for run in runs])
            fwe = np.mean([run["fwe"] for run in runs])
            print(f"{p_values:<12} {support_fraction!s:<8} "
                  f"{summary('latent'):>22} | {summary('subject'):>23} | "
                  f"{features:8.3f} | {fwe:.3f}")


if __name__ == "__main__":
    main()
