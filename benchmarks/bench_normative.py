"""Normative models against known atrophy: VAE, conditional VAE, PCA, linear.

A cohort of ``make_brain_cohort_with_atrophy`` subjects at 4 mm is split
into training controls (400 by default), held-out calibration controls
(100), and a test set of new controls (500) and patients (100) whose
atrophy (by default a ball of 10 mm in the left hippocampus whose tissue
loses 30 % of its contrast, ``--strength 0.3``) is known voxel by voxel.
Every normative model of :mod:`nidl.normative` fits its model on the
training controls, is calibrated on the calibration controls, and scores
the test set:

- ``VAE``: :class:`~nidl.estimators.autoencoders.VAE` with MLP encoder and
  decoder (one hidden layer of 256 units, 8 latents, ``beta=1``,
  ``observation_scale="shared"``, ``lr=1e-4``, ``weight_decay=10``, batches
  of 16, 100 epochs: the settings of the brain user guide), in
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
  deviation scores, patients against the new controls;
- ``voxel AUC``: for each patient, the area under the ROC curve of the
  voxel z-scores, lower meaning more atrophied, against the patient's true
  atrophy mask over the brain mask; the mean over patients;
- ``false positives``: the share of the new controls whose p-value (the
  default, conformal one) is below 0.05, for the latent distance and the
  subject-level score;
- ``significance ratio`` [1]_: the share of patients with a p-value below
  alpha over that of new controls, with the conformal p-values at 0.05 and
  with the parametric ones (``p_values="parametric"``: chi-square for the
  latent distance, normal for the standardised subject score) at 0.05 and
  0.001. Conformal p-values from 100 calibration controls are never below
  1 / 101, so none is below 0.001: that ratio needs more calibration
  controls. ``inf`` where no new control is flagged.

Each seed (``--seeds``, default 0 1 2) builds its own cohort and prints its
lines; then every figure is printed as its mean ± standard deviation over
the seeds::

    seed 0: subject AUC: VAE x.xx, cVAE x.xx, PCA x.xx, linear x.xx; voxel AUC: ...
    seed 0: false positives at p < 0.05 among new controls: latent VAE x.xx, ...
    seed 0: significance ratio (patients over new controls with p < alpha), ...
    seed 0: significance ratio, parametric p-values, at 0.05: ...; at 0.001: ...
    ...
    mean ± standard deviation over seeds 0, 1, 2:
    subject AUC: VAE x.xx ± x.xx, ...

Run from the repository root (see the user guide on normative modelling for
the time it takes)::

    .venv/bin/python benchmarks/bench_normative.py [--strength 0.3] \\
        [--seeds 0 1 2] [--device cpu|cuda] [--epochs 100] [--n-train 400] ...

``--verbose`` adds, on standard error, the time each step takes, every
figure of every model with four decimals (with the voxel-level ones: the
share of the new controls' voxels with a p-value below 0.05, the share of
new controls with any voxel flagged by the family-wise correction at 0.05,
the share of their voxels flagged by the false discovery rate correction,
and the share of the patients' flagged voxels that are atrophied) and, for
the models with latents, the root mean square reconstruction residual of
the training and the calibration controls.

References
----------
.. [1] A. Lawry Aguila, J. Chapman and A. Altmann, "Multi-modal Variational
   Autoencoders for Normative Modelling Across Multiple Imaging
   Modalities", MICCAI 2023.
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
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LinearRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler
from torch import nn

from nidl.datasets import make_brain_cohort_with_atrophy, make_brain_parcellation
from nidl.estimators import autoencoders
from nidl.normative import (
    NormativeModel,
    RegressionNormativeModel,
    adjust_p_values,
)

MODELS = ("VAE", "cVAE", "PCA", "linear")
#: The models with latents, and those given the covariates.
LATENT_MODELS = ("VAE", "cVAE", "PCA")
CONDITIONAL = ("cVAE", "linear")
#: The levels of the significance ratios.
ALPHAS = (0.05, 0.001)

#: Training controls by default: the VAEs need more than PCA to learn what
#: is not linear in the voxels (with 200, PCA led them on two seeds of three).
N_TRAIN = 400
#: New controls of the test set: the false-positive rates are shares of
#: them, whose sampling error is ~0.01 at 0.05 with 500 (0.02 with 100).
N_TEST = 500


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


def make_data(n_train=N_TRAIN, n_calibration=100, n_test=N_TEST, n_patients=100,
              strength=0.3, radius=10.0, region="left_hippocampus", n_regions=200,
              resolution=4, seed=0):
    """The cohort, masked and standardised: ``n_test`` new controls and
    ``n_patients`` patients in the test set."""
    n_controls = n_train + n_calibration + n_test
    images, factors, masks = make_brain_cohort_with_atrophy(
        n_controls, n_patients, region=region, radius=radius, strength=strength,
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
        X={k: scaler.transform(voxels[s]).astype(np.float32)
           for k, s in splits.items()},
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


def make_vae(data, conditional=False, latent_dim=8, hidden=256, epochs=100, lr=1e-4,
             weight_decay=10.0, batch_size=16, beta=1.0, observation_scale="shared",
             device="cpu", seed=0, **options):
    """A VAE (or conditional VAE), unfitted, or None when this version of nidl
    has no conditional VAE; ``options`` are more parameters of the estimator."""
    n_features = data.X["train"].shape[1]
    n_covariates = data.covariates["train"].shape[1] if conditional else 0
    cls = getattr(autoencoders, "ConditionalVAE" if conditional else "VAE", None)
    if cls is None:
        return None
    torch.manual_seed(seed)
    encoder, decoder = mlp(n_features, latent_dim + n_covariates, hidden)
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
        return cls(encoder, decoder, n_covariates=n_covariates, **params)
    return cls(encoder, decoder, **params)


def normative_models(data, summary="max_abs", seed=0, models=MODELS, **vae_params):
    """Each model, fitted by its normative model on the training controls and
    calibrated on the calibration controls; None for a model this version of
    nidl lacks."""
    common = {"regions": data.regions, "summary": summary, "random_state": seed}
    estimators = {
        "VAE": (NormativeModel, "VAE" in models and make_vae(data, seed=seed,
                                                             **vae_params)),
        "cVAE": (NormativeModel, "cVAE" in models and make_vae(
            data, conditional=True, seed=seed, **vae_params)),
        "PCA": (NormativeModel,
                PCA(vae_params.get("latent_dim", 8), random_state=seed)),
        "linear": (RegressionNormativeModel, LinearRegression()),
    }
    fitted = {}
    for name, (cls, estimator) in estimators.items():
        if name not in models:
            continue
        if estimator is None:
            fitted[name] = None
            continue
        covariates = name in CONDITIONAL
        fitted[name] = cls(estimator, **common).fit(
            data.X["train"], X_calibration=data.X["calibration"],
            covariates=data.covariates["train"] if covariates else None,
            covariates_calibration=(
                data.covariates["calibration"] if covariates else None
            ),
        )
    return fitted


def parametric(model, data, conditional):
    """The same fitted model, calibrated again with parametric p-values."""
    params = {**model.get_params(deep=False), "p_values": "parametric",
              "estimator": FrozenEstimator(model.estimator_)}
    covariates = data.covariates["calibration"] if conditional else None
    return type(model)(**params).fit(data.X["calibration"], covariates=covariates)


def evaluate(model, data, conditional):
    """Every figure of one model: AUCs, false-positive rates among the new
    controls and the patients' share flagged, by each score's p-value."""
    covariates = data.covariates["test"] if conditional else None
    deviations = model.deviations(data.X["test"], covariates=covariates,
                                  correction="fwe")
    patients = data.patient == 1
    voxel_auc = np.mean([
        roc_auc_score(truth, -z)
        for truth, z in zip(data.truth, deviations.zscores[patients])
    ])
    result = {
        "subject": roc_auc_score(data.patient, deviations.score),
        "voxel": float(voxel_auc),
        # Share of the new controls' voxels with p < 0.05.
        "voxel_false_positives": float(np.mean(deviations.p_values[~patients] < 0.05)),
    }
    maps = {"fwe": deviations.corrected_p_values,
            "fdr": adjust_p_values(deviations.p_values)}
    for correction, corrected in maps.items():
        flagged = corrected < 0.05
        atrophied = flagged[patients] & data.truth
        result.update({
            # New controls with any voxel flagged, and their share of voxels.
            f"{correction} controls flagged": float(np.mean(flagged[~patients].any(1))),
            f"{correction} control voxels flagged": float(np.mean(flagged[~patients])),
            # Of the patients' flagged voxels, the share atrophied; of the
            # atrophied voxels, the share flagged.
            f"{correction} precision": float(atrophied.sum()
                                             / max(1, flagged[patients].sum())),
            f"{correction} sensitivity": float(atrophied.sum() / data.truth.sum()),
        })
    p_values = {"subject": deviations.p_value}
    if "latent_distance" in deviations:
        result["latent"] = roc_auc_score(data.patient, deviations.latent_distance)
        p_values["latent"] = deviations.latent_p_value
    again = parametric(model, data, conditional).deviations(
        data.X["test"], covariates=covariates, correction=None
    )
    # The same FDR maps from the parametric (Student t) voxel p-values.
    flagged = adjust_p_values(again.p_values)[~patients] < 0.05
    result["parametric fdr controls flagged"] = float(np.mean(flagged.any(axis=1)))
    parametric_p = {"subject": again.p_value}
    if "latent_distance" in again:
        parametric_p["latent"] = again.latent_p_value
    for kind, values in (("conformal", p_values), ("parametric", parametric_p)):
        for score, p in values.items():
            for alpha in ALPHAS:
                controls = float(np.mean(p[~patients] < alpha))
                flagged = float(np.mean(p[patients] < alpha))
                result[f"{kind} {score} false positives at {alpha}"] = controls
                result[f"{kind} {score} patients at {alpha}"] = flagged
                result[f"{kind} {score} significance ratio at {alpha}"] = (
                    flagged / controls if controls > 0 else np.inf
                )
    return result


def rms_residual(estimator, X, covariates=None):
    """Root mean square of the reconstruction residuals of ``X``."""
    kwargs = {} if covariates is None else {"covariates": covariates}
    expected = estimator.inverse_transform(estimator.transform(X, **kwargs), **kwargs)
    return float(np.sqrt(np.mean((X - expected) ** 2)))


def figure(results, name, key):
    """``mean`` or ``mean ± sd`` of one figure of one model over the seeds;
    ``n/a`` for a model that was not measured, and ``inf`` counted apart (a
    significance ratio when no new control was flagged)."""
    values = np.array([r[name][key] for r in results if r.get(name) is not None])
    if not len(values):
        return f"{name} n/a"
    finite = values[np.isfinite(values)]
    text = f"{name} "
    if len(finite) == 1:
        text += f"{finite[0]:.2f}"
    elif len(finite) > 1:
        text += f"{np.mean(finite):.2f} ± {np.std(finite, ddof=1):.2f}"
    if len(finite) < len(values):
        infinite = len(values) - len(finite)
        text += "inf" if not len(finite) else f" (inf on {infinite} seeds)"
    return text


def format_lines(results):
    """The benchmark's lines, for the results of one seed or of several."""
    def numbers(key, names=MODELS):
        return ", ".join(figure(results, name, key) for name in names)

    def latent_and_subject(key):
        return (f"latent {numbers(key.format('latent'), LATENT_MODELS)}; "
                f"subject {numbers(key.format('subject'))}")

    ratio = "{kind} {{}} significance ratio at {alpha}"
    return [
        f"subject AUC: {numbers('subject')}; voxel AUC: {numbers('voxel')}",
        "false positives at p < 0.05 among new controls: "
        + latent_and_subject("conformal {} false positives at 0.05"),
        "significance ratio (patients over new controls with p < alpha), "
        "conformal p-values, at 0.05: "
        + latent_and_subject(ratio.format(kind="conformal", alpha=0.05)),
        "significance ratio, parametric p-values, at 0.05: "
        + latent_and_subject(ratio.format(kind="parametric", alpha=0.05))
        + "; at 0.001: "
        + latent_and_subject(ratio.format(kind="parametric", alpha=0.001)),
        ("voxels of new controls: share with p < 0.05: "
        f"{numbers('voxel_false_positives')}; controls with any voxel flagged "
        f"at 0.05, FWE: {numbers('fwe controls flagged')}; FDR: "
        f"{numbers('fdr controls flagged')}; FDR of parametric p-values: "
        f"{numbers('parametric fdr controls flagged')}"),
        ("voxels of patients flagged at 0.05 that are atrophied, FWE: "
        f"{numbers('fwe precision')}; FDR: {numbers('fdr precision')}; "
        f"atrophied voxels flagged, FWE: {numbers('fwe sensitivity')}; FDR: "
        f"{numbers('fdr sensitivity')}"),
    ]


def run(strength=0.3, radius=10.0, n_train=N_TRAIN, n_calibration=100, n_test=N_TEST,
        n_patients=100, summary="max_abs", n_regions=200, seed=0, models=MODELS,
        log=lambda message: None, **vae_params):
    """Build the cohort of one seed, fit every model, return
    ``{model: result or None}``."""
    start = time.perf_counter()
    data = make_data(n_train, n_calibration, n_test, n_patients, strength=strength,
                     radius=radius, n_regions=n_regions, seed=seed)
    log(f"seed {seed}: cohort {time.perf_counter() - start:.0f} s, "
        f"{data.X['train'].shape[1]} voxels")
    start = time.perf_counter()
    models = normative_models(data, summary=summary, seed=seed, models=models,
                              **vae_params)
    log(f"seed {seed}: models fitted and calibrated: "
        f"{time.perf_counter() - start:.0f} s")
    results = {
        name: None if model is None else evaluate(model, data, name in CONDITIONAL)
        for name, model in models.items()
    }
    for name, result in results.items():
        if result is None:
            continue
        details = ", ".join(
            f"{key} {value:.4f}" for key, value in result.items()
        )
        log(f"seed {seed}: {name}: {details}")
        if "latent" in result:
            model = models[name]
            conditional = name in CONDITIONAL
            rms = [
                rms_residual(model.estimator_, data.X[split],
                             data.covariates[split] if conditional else None)
                for split in ("train", "calibration")
            ]
            log(f"seed {seed}: {name}: rms residual {rms[0]:.3f} (training "
                f"controls), {rms[1]:.3f} (calibration)")
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strength", type=float, default=0.3,
                        help="fraction of tissue contrast the atrophy removes")
    parser.add_argument("--radius", type=float, default=10.0,
                        help="radius of the atrophy in mm")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--n-train", type=int, default=N_TRAIN,
                        help="training controls (default: %(default)s)")
    parser.add_argument("--n-calibration", type=int, default=100)
    parser.add_argument("--n-test", type=int, default=N_TEST,
                        help="new controls of the test set (default: %(default)s)")
    parser.add_argument("--n-patients", type=int, default=100)
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
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS),
                        help="the models to measure (the others print n/a)")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)

    def log(message):
        if args.verbose:
            print(message, file=sys.stderr, flush=True)

    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    results = []
    for seed in args.seeds:
        results.append(run(
            strength=args.strength, radius=args.radius, n_train=args.n_train,
            n_calibration=args.n_calibration, n_test=args.n_test,
            n_patients=args.n_patients, summary=args.summary,
            n_regions=args.n_regions, seed=seed, models=args.models, log=log,
            latent_dim=args.latent_dim, hidden=args.hidden, epochs=args.epochs,
            lr=args.lr, weight_decay=args.weight_decay, batch_size=args.batch_size,
            beta=args.beta, observation_scale=args.observation_scale,
            device=args.device,
        ))
        for line in format_lines(results[-1:]):
            print(f"seed {seed}: {line}", flush=True)
    if len(results) > 1:
        seeds = ", ".join(str(seed) for seed in args.seeds)
        print(f"mean ± standard deviation over seeds {seeds}:")
        for line in format_lines(results):
            print(line)


if __name__ == "__main__":
    main()
