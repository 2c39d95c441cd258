"""Normative models against known atrophy: VAE, conditional VAE, PCA, linear.

A cohort of ``make_brain_cohort_with_atrophy`` subjects at 4 mm is split
into training controls (400 by default), held-out calibration controls
(100), and a test set of new controls (100) and as many patients whose
atrophy (by default a ball of 10 mm in the left hippocampus whose tissue
loses 30 % of its contrast, ``--strength 0.3``) is known voxel by voxel. Every model is fitted on the training
controls, wrapped in a normative model of :mod:`nidl.normative` calibrated
on the calibration controls, and scored on the test set:

- ``VAE``: :class:`~nidl.estimators.autoencoders.VAE` with MLP encoder and
  decoder (one hidden layer of 256 units, 8 latents, ``beta=1``,
  ``observation_scale="shared"``, ``lr=1e-4``, ``weight_decay=10``, batches
  of 16, 100 epochs:
  the settings of the brain user guide), in
  :class:`~nidl.normative.NormativeModel`;
- ``cVAE``: :class:`~nidl.estimators.autoencoders.ConditionalVAE`, the same
  networks given the covariates (``n/a`` in a version of nidl without it);
- ``PCA``: :class:`sklearn.decomposition.PCA` with as many components as
  the VAE has latents, in :class:`~nidl.normative.NormativeModel`;
- ``linear``: one linear regression per voxel of the voxel on the
  covariates (:class:`sklearn.linear_model.LinearRegression`), in
  :class:`~nidl.normative.RegressionNormativeModel`.

The features are the voxels of the MNI152 brain mask, standardised by a
``StandardScaler`` fitted on the training controls; the covariates are
age (standardised), sex and the one-hot site. Every normative model
z-scores its residuals in the same way, summarises them per subject by the
same ``summary`` (``"max_abs"``: the most deviant region, as suits an
atrophy confined to one place) over the same parcellation
(``make_brain_parcellation(200)``), and is measured by:

- ``subject AUC``: the area under the ROC curve of the subject-level
  deviation scores (``deviation_scores``), patients against the test
  controls;
- ``voxel AUC``: for each patient, the area under the ROC curve of the
  voxel z-scores (``transform``), lower meaning more atrophied, against the
  patient's true atrophy mask over the brain mask; the mean over patients.

One line is printed, and nothing asserted::

    subject AUC: VAE x.xx, cVAE x.xx, PCA x.xx, linear x.xx; voxel AUC: VAE x.xx, cVAE x.xx, PCA x.xx, linear x.xx

Run from the repository root (about 11 minutes with one thread, two runs
sharing 2 cores; 590 s of it fitting the two VAEs)::

    .venv/bin/python benchmarks/bench_normative.py [--strength 0.3] [--seed 0] \\
        [--device cpu|cuda] [--epochs 100] [--n-train 400] ...

``--verbose`` adds, on standard error, the time each step takes, the AUCs
with four decimals and, for
the models with latents, the AUC of the latent distance, the fraction of
test controls whose latent p-value is below 0.05, and the root mean square
reconstruction residual of the training and the calibration controls.
"""

import argparse
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from nilearn.datasets import load_mni152_brain_mask
from nilearn.maskers import NiftiMasker
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler
from torch import nn

from nidl.datasets import make_brain_cohort_with_atrophy, make_brain_parcellation
from nidl.estimators import autoencoders
from nidl.normative import NormativeModel, RegressionNormativeModel

MODELS = ("VAE", "cVAE", "PCA", "linear")

#: Training controls by default: the VAEs need more than PCA to learn what
#: is not linear in the voxels (with 200, PCA led them on two seeds of three).
N_TRAIN = 400


@dataclass
class Data:
    """A benchmark cohort as features: training, calibration and test sets."""

    masker: object
    regions: np.ndarray
    X: dict
    covariates: dict
    patient: np.ndarray  # test subjects: 1 for patients
    truth: np.ndarray  # test patients' true atrophy, (n_patients, n_voxels)


def covariates_of(factors, age_mean, age_std):
    """Age (standardised), sex and the one-hot site of each subject."""
    site = np.eye(3, dtype=np.float32)[factors.site.to_numpy()]
    age = (factors.age.to_numpy() - age_mean) / age_std
    return np.column_stack([age, factors.sex.to_numpy(), site]).astype(np.float32)


def make_data(n_train=N_TRAIN, n_calibration=100, n_test=100, strength=0.3, radius=10.0,
              region="left_hippocampus", n_regions=200, resolution=4, seed=0):
    """The cohort, masked and standardised: ``n_test`` controls and as many
    patients in the test set."""
    n_controls = n_train + n_calibration + n_test
    images, factors, masks = make_brain_cohort_with_atrophy(
        n_controls, n_test, region=region, radius=radius, strength=strength,
        resolution=resolution, random_state=seed,
    )
    masker = NiftiMasker(load_mni152_brain_mask(resolution=resolution),
                         standardize=None).fit()
    voxels = masker.transform(images)
    splits = {
        "train": slice(0, n_train),
        "calibration": slice(n_train, n_train + n_calibration),
        "test": slice(n_train + n_calibration, None),
    }
    scaler = StandardScaler().fit(voxels[splits["train"]])
    train_age = factors.age.to_numpy()[splits["train"]]
    covariates = covariates_of(factors, train_age.mean(), train_age.std())
    regions = masker.transform(
        make_brain_parcellation(n_regions, resolution=resolution)
    ).reshape(-1).round().astype(int)
    truth = masker.transform(masks[n_controls:]) > 0.5
    return Data(
        masker=masker,
        regions=regions,
        X={k: scaler.transform(voxels[s]).astype(np.float32) for k, s in splits.items()},
        covariates={k: covariates[s] for k, s in splits.items()},
        patient=factors.patient.to_numpy()[splits["test"]],
        truth=truth,
    )


def mlp(n_features, code_dim, hidden):
    """MLP encoder (one hidden layer) and decoder from ``code_dim`` inputs."""
    encoder = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU())
    decoder = nn.Sequential(nn.Linear(code_dim, hidden), nn.ReLU(),
                            nn.Linear(hidden, n_features))
    return encoder, decoder


def fit_vae(data, conditional=False, latent_dim=8, hidden=256, epochs=100, lr=1e-4,
            weight_decay=10.0, batch_size=16, beta=1.0, observation_scale="shared",
            device="cpu", seed=0, **options):
    """A VAE (or conditional VAE) fitted on the training controls, or None
    when this version of nidl has no conditional VAE; ``options`` are more
    parameters of the estimator."""
    X = data.X["train"]
    n_covariates = data.covariates["train"].shape[1] if conditional else 0
    cls = getattr(autoencoders, "ConditionalVAE" if conditional else "VAE", None)
    if cls is None:
        return None
    torch.manual_seed(seed)
    encoder, decoder = mlp(X.shape[1], latent_dim + n_covariates, hidden)
    params = dict(
        encoder_out_dim=hidden, latent_dim=latent_dim, beta=beta, lr=lr,
        weight_decay=weight_decay, batch_size=batch_size, stochastic_transform=False,
        random_state=seed,
        observation_scale=observation_scale, max_epochs=epochs, accelerator=device,
        devices=1,
        enable_progress_bar=False, enable_model_summary=False, logger=False,
        enable_checkpointing=False, **options,
    )
    if conditional:
        vae = cls(encoder, decoder, n_covariates=n_covariates, **params)
        return vae.fit(X, covariates=data.covariates["train"])
    return cls(encoder, decoder, **params).fit(X)


def normative_models(data, summary="max_abs", seed=0, **vae_params):
    """Each model fitted on the training controls and wrapped in its normative
    model, calibrated; None for a model this version of nidl lacks."""
    common = {"regions": data.regions, "summary": summary}
    pca = PCA(vae_params.get("latent_dim", 8), random_state=seed).fit(data.X["train"])
    linear = LinearRegression().fit(data.covariates["train"], data.X["train"])
    vae = fit_vae(data, seed=seed, **vae_params)
    cvae = fit_vae(data, conditional=True, seed=seed, **vae_params)
    calibration = data.X["calibration"], data.covariates["calibration"]
    models = {
        "VAE": NormativeModel(vae, random_state=seed, **common).fit(calibration[0]),
        "cVAE": None if cvae is None else NormativeModel(
            cvae, random_state=seed, **common
        ).fit(calibration[0], covariates=calibration[1]),
        "PCA": NormativeModel(pca, random_state=seed, **common).fit(calibration[0]),
        "linear": RegressionNormativeModel(linear, **common).fit(
            calibration[0], covariates=calibration[1]
        ),
    }
    return models


def evaluate(model, data, conditional):
    """Subject AUC, voxel AUC and, for a model with latents, the latent AUC."""
    covariates = data.covariates["test"] if conditional else None
    deviations = model.deviations(data.X["test"], covariates=covariates)
    patients = data.patient == 1
    voxel_auc = np.mean([
        roc_auc_score(truth, -z)
        for truth, z in zip(data.truth, deviations.zscores[patients])
    ])
    result = {
        "subject": roc_auc_score(data.patient, deviations.score),
        "voxel": float(voxel_auc),
    }
    if "latent_distance" in deviations:
        result["latent"] = roc_auc_score(data.patient, deviations.latent_distance)
        result["latent_false_positives"] = float(
            np.mean(deviations.latent_p_value[~patients] < 0.05)
        )
    return result


def rms_residual(estimator, X, covariates=None):
    """Root mean square of the reconstruction residuals of ``X``."""
    kwargs = {} if covariates is None else {"covariates": covariates}
    expected = estimator.inverse_transform(estimator.transform(X, **kwargs), **kwargs)
    return float(np.sqrt(np.mean((X - expected) ** 2)))


def format_line(results):
    """The benchmark's one line; ``n/a`` for a model that was not measured."""
    def numbers(key):
        return ", ".join(
            f"{name} {'n/a' if results.get(name) is None else format(results[name][key], '.2f')}"
            for name in MODELS
        )
    return f"subject AUC: {numbers('subject')}; voxel AUC: {numbers('voxel')}"


def run(strength=0.3, radius=10.0, n_train=N_TRAIN, n_calibration=100, n_test=100,
        summary="max_abs", n_regions=200, seed=0, log=lambda message: None,
        **vae_params):
    """Build the cohort, fit every model, return ``{model: result or None}``."""
    start = time.perf_counter()
    data = make_data(n_train, n_calibration, n_test, strength=strength, radius=radius,
                     n_regions=n_regions, seed=seed)
    log(f"cohort: {time.perf_counter() - start:.0f} s, "
        f"{data.X['train'].shape[1]} voxels")
    start = time.perf_counter()
    models = normative_models(data, summary=summary, seed=seed, **vae_params)
    log(f"models fitted and calibrated: {time.perf_counter() - start:.0f} s")
    results = {
        name: None if model is None else evaluate(model, data, name in ("cVAE", "linear"))
        for name, model in models.items()
    }
    for name, result in results.items():
        if result is not None:
            log(f"{name}: subject AUC {result['subject']:.4f}, "
                f"voxel AUC {result['voxel']:.4f}")
        if result is not None and "latent" in result:
            model = models[name]
            conditional = name == "cVAE"
            rms = [
                rms_residual(model.estimator, data.X[split],
                             data.covariates[split] if conditional else None)
                for split in ("train", "calibration")
            ]
            log(f"{name}: latent-distance subject AUC {result['latent']:.2f}, "
                f"test controls with latent p < 0.05: "
                f"{result['latent_false_positives']:.2f}; rms residual "
                f"{rms[0]:.3f} (training controls), {rms[1]:.3f} (calibration)")
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strength", type=float, default=0.3,
                        help="fraction of tissue contrast the atrophy removes")
    parser.add_argument("--radius", type=float, default=10.0,
                        help="radius of the atrophy in mm")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--n-train", type=int, default=N_TRAIN,
                        help="training controls (default: %(default)s)")
    parser.add_argument("--n-calibration", type=int, default=100)
    parser.add_argument("--n-test", type=int, default=100,
                        help="test controls, and as many patients")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--latent-dim", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--weight-decay", type=float, default=10.0,
                        help="AdamW's decoupled weight decay of the VAEs' networks")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--beta", type=float, default=1.0)
    parser.add_argument("--observation-scale", default="shared",
                        choices=("fixed", "shared", "feature"))
    parser.add_argument("--n-regions", type=int, default=200)
    parser.add_argument("--summary", choices=("mean_squared", "max_abs"),
                        default="max_abs")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)

    def log(message):
        if args.verbose:
            print(message, file=sys.stderr, flush=True)

    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    results = run(
        strength=args.strength, radius=args.radius, n_train=args.n_train,
        n_calibration=args.n_calibration, n_test=args.n_test, summary=args.summary,
        n_regions=args.n_regions, seed=args.seed, log=log, latent_dim=args.latent_dim,
        hidden=args.hidden, epochs=args.epochs, lr=args.lr,
        weight_decay=args.weight_decay, batch_size=args.batch_size,
        beta=args.beta, observation_scale=args.observation_scale, device=args.device,
    )
    print(format_line(results))


if __name__ == "__main__":
    main()
