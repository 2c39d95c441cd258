"""A VAE against PCA on the brain cohort, and site in the latents of a conditional VAE.

For each seed, a cohort of ``make_brain_cohort`` subjects at 4 mm is masked
with the MNI152 brain mask and split into training and held-out subjects;
the voxels are standardised on the training subjects. Then, with the same
number of components:

- PCA and the VAE of the brain gallery example are fitted on the training
  subjects;
- age R^2: the cross-validated R^2 (5 folds) of a ridge regression of age on
  the latents (posterior means) of every subject;
- held-out reconstruction R^2: ``1 - SSE / SST`` of the held-out subjects'
  standardised voxels (raw intensities with ``--raw``) against their
  reconstructions (the decoded posterior
  means for the VAE, the projection for PCA), SST around the held-out mean;
- site accuracy: the cross-validated accuracy (5 folds) of a logistic
  regression of the acquisition site (3 sites, chance 1/3) on the latents of
  every subject, for the VAE and for a ``ConditionalVAE`` of the same
  architecture given the one-hot site as covariates.

With ``--nonlinear-decoder``, PCA's codes are also decoded by PCA plus a
kernel ridge regression onto the next principal component scores
(:func:`nonlinear_decoder_r2`): how much any decoder of the same 8 numbers
per brain could gain over PCA's linear one on this cohort. With
``--pca-age K [K ...]``, the age R^2 of PCA with each number ``K`` of
components: how much of age a linear readout finds in more or fewer
principal components.

Printed, never asserted, two lines per seed (one more with
``--nonlinear-decoder``, one more with ``--pca-age``)::

    age R^2: VAE x.xx, PCA x.xx; held-out reconstruction R^2: VAE x.xx, PCA x.xx
    site accuracy from the latents: VAE x.xx, cVAE x.xx, PCA x.xx (chance 0.33)

Run from the repository root (about 3 minutes per seed on 2 CPU cores)::

    .venv/bin/python benchmarks/bench_brain_vae.py [--seeds 0 1 2] [--device cpu]

A smoke test, seconds::

    .venv/bin/python benchmarks/bench_brain_vae.py --seeds 0 --n-subjects 24 --epochs 1
"""

import argparse
import time

import numpy as np
import torch
from nilearn.datasets import load_mni152_brain_mask
from nilearn.maskers import NiftiMasker
from sklearn.decomposition import PCA
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.preprocessing import StandardScaler
from torch import nn

from nidl.datasets import make_brain_cohort
from nidl.estimators.autoencoders import VAE, ConditionalVAE

#: The settings of the brain gallery example.
SETTINGS = {
    "latent_dim": 8,
    "hidden": 256,
    "decoder_hidden": 256,
    "beta": 1.0,
    "lr": 2e-4,
    "weight_decay": 10.0,
    "batch_size": 32,
    "epochs": 100,
    "observation_scale": "shared",
    "layer_norm": False,
    "standardise": True,
    "conditional": True,
}


def brain_vae(n_voxels, latent_dim, hidden, decoder_hidden, layer_norm=False, n_covariates=0,
              **options):
    """The MLP VAE of the example (with ``layer_norm``, its first layer normalised)."""
    norm = [nn.LayerNorm(hidden)] if layer_norm else []
    encoder = nn.Sequential(nn.Linear(n_voxels, hidden), *norm, nn.ReLU())
    decoder = nn.Sequential(
        nn.Linear(latent_dim + n_covariates, decoder_hidden), nn.ReLU(),
        nn.Linear(decoder_hidden, n_voxels),
    )
    common = {"encoder_out_dim": hidden, "latent_dim": latent_dim,
              "stochastic_transform": False,
              "enable_progress_bar": False, "logger": False,
              "enable_checkpointing": False, **options}
    if n_covariates:
        return ConditionalVAE(encoder, decoder, n_covariates=n_covariates, **common)
    return VAE(encoder, decoder, **common)


def reconstruction_r2(X, X_hat):
    """``1 - SSE / SST`` over every value, SST around the mean of ``X``."""
    return float(1 - ((X - X_hat) ** 2).sum() / ((X - X.mean(0)) ** 2).sum())


def nonlinear_decoder_r2(X, train, held_out, k, n_components=60, seed=0):
    """Held-out reconstruction R^2 of PCA's ``k`` codes through a smooth nonlinear decoder.

    The codes are the first ``k`` principal component scores (standardised);
    the decoder is PCA's own linear one plus a kernel ridge regression (RBF
    kernel, its width and penalty chosen by 5-fold cross-validation on the
    training subjects) from the codes to the next ``n_components - k``
    scores. It measures what a nonlinear decoder could add to PCA with the
    same ``k`` numbers per brain.
    """
    pca = PCA(min(n_components, len(train) - 1), random_state=seed).fit(X[train])
    scores = pca.transform(X)
    codes = scores[:, :k] / scores[train, :k].std(axis=0)
    grid = {"gamma": np.array([0.01, 0.03, 0.1, 0.3]) / k, "alpha": [0.01, 0.1, 1.0]}
    decoder = GridSearchCV(KernelRidge(kernel="rbf"), grid, cv=5,
                           scoring="neg_mean_squared_error")
    decoder.fit(codes[train], scores[train, k:])
    decoded = np.hstack([scores[held_out, :k], decoder.predict(codes[held_out])])
    return reconstruction_r2(X[held_out], pca.inverse_transform(decoded))


def run(seed, n_subjects=150, n_train=100, settings=SETTINGS, device="cpu", log=print):
    """Measure one seed; returns a dictionary of the figures."""
    images, factors = make_brain_cohort(n_subjects, random_state=seed)
    masker = NiftiMasker(load_mni152_brain_mask(resolution=4), standardize=None)
    X = masker.fit_transform(images).astype(np.float32)
    order = np.random.default_rng(seed).permutation(n_subjects)
    train, held_out = order[:n_train], order[n_train:]
    if settings["standardise"]:
        X = StandardScaler().fit(X[train]).transform(X).astype(np.float32)
    age, site = factors.age.to_numpy(), factors.site.to_numpy()
    onehot = np.eye(3, dtype=np.float32)[site]
    k = settings["latent_dim"]
    options = {
        "latent_dim": k, "hidden": settings["hidden"],
        "decoder_hidden": settings["decoder_hidden"], "beta": settings["beta"],
        "layer_norm": settings["layer_norm"], "observation_scale": settings["observation_scale"],
        "lr": settings["lr"], "weight_decay": settings["weight_decay"],
        "batch_size": settings["batch_size"],
        "max_epochs": settings["epochs"], "random_state": seed, "accelerator": device,
    }
    ridge = RidgeCV(alphas=np.logspace(-3, 3, 13))
    classifier = LogisticRegression(max_iter=2000)

    def age_r2(Z):
        return cross_val_score(ridge, Z, age, cv=5).mean()

    def scores(Z):
        return age_r2(Z), cross_val_score(classifier, Z, site, cv=5).mean()

    pca = PCA(k, random_state=seed).fit(X[train])
    Z_pca = pca.transform(X)
    start = time.perf_counter()
    torch.manual_seed(seed)
    vae = brain_vae(X.shape[1], **options).fit(X[train])
    vae_seconds = time.perf_counter() - start
    Z_vae = vae.transform(X)
    figures = {"seed": seed, "vae_seconds": vae_seconds, "site_cvae": float("nan")}
    figures["age_vae"], figures["site_vae"] = scores(Z_vae)
    figures["age_pca"], figures["site_pca"] = scores(Z_pca)
    if settings["conditional"]:
        torch.manual_seed(seed)
        cvae = brain_vae(X.shape[1], n_covariates=3, **options)
        cvae.fit(X[train], covariates=onehot[train])
        figures["site_cvae"] = scores(cvae.transform(X, covariates=onehot))[1]
    figures["rec_vae"] = reconstruction_r2(X[held_out], vae.inverse_transform(Z_vae[held_out]))
    figures["rec_pca"] = reconstruction_r2(X[held_out], pca.inverse_transform(Z_pca[held_out]))
    if settings.get("nonlinear_decoder"):
        figures["rec_kernel"] = nonlinear_decoder_r2(X, train, held_out, k, seed=seed)
    figures["age_pca_by_k"] = {
        n: age_r2(PCA(n, random_state=seed).fit(X[train]).transform(X))
        for n in settings.get("pca_age", ())
    }
    log(format_figures(figures))
    return figures


def format_figures(f):
    return (
        f"seed {f['seed']}: age R^2: VAE {f['age_vae']:.2f}, PCA {f['age_pca']:.2f}; "
        f"held-out reconstruction R^2: VAE {f['rec_vae']:.2f}, PCA {f['rec_pca']:.2f}\n"
        f"seed {f['seed']}: site accuracy from the latents: VAE {f['site_vae']:.2f}, "
        f"cVAE {f['site_cvae']:.2f}, PCA {f['site_pca']:.2f} (chance 0.33); "
        f"VAE fit {f['vae_seconds']:.0f} s"
    ) + (
        f"\nseed {f['seed']}: held-out reconstruction R^2 of PCA's codes through a "
        f"nonlinear decoder: {f['rec_kernel']:.3f} (PCA {f['rec_pca']:.3f})"
        if "rec_kernel" in f else ""
    ) + (
        f"\nseed {f['seed']}: age R^2 of PCA with k components: " + ", ".join(
            f"k={n} {r2:.3f}" for n, r2 in f["age_pca_by_k"].items())
        if f.get("age_pca_by_k") else ""
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-subjects", type=int, default=150)
    parser.add_argument("--n-train", type=int, default=None,
                        help="training subjects (default: two thirds)")
    parser.add_argument("--epochs", type=int, default=SETTINGS["epochs"])
    parser.add_argument("--lr", type=float, default=SETTINGS["lr"])
    parser.add_argument("--weight-decay", type=float, default=SETTINGS["weight_decay"],
                        help="AdamW's decoupled weight decay of the networks")
    parser.add_argument("--beta", type=float, default=SETTINGS["beta"])
    parser.add_argument("--batch-size", type=int, default=SETTINGS["batch_size"])
    parser.add_argument("--hidden", type=int, default=SETTINGS["hidden"])
    parser.add_argument("--decoder-hidden", type=int, default=SETTINGS["decoder_hidden"])
    parser.add_argument("--observation-scale", default=SETTINGS["observation_scale"],
                        choices=["fixed", "shared", "feature"])
    parser.add_argument("--raw", action="store_true",
                        help="the raw intensities, not standardised voxels")
    parser.add_argument("--no-cvae", action="store_true",
                        help="leave out the conditional VAE")
    parser.add_argument("--layer-norm", action="store_true",
                        help="a LayerNorm after the encoder's first layer")
    parser.add_argument("--nonlinear-decoder", action="store_true",
                        help="also decode PCA's codes with a kernel ridge regression: "
                        "what a nonlinear decoder adds to PCA with the same codes")
    parser.add_argument("--pca-age", type=int, nargs="+", default=[], metavar="K",
                        help="also the age R^2 of PCA with each of these numbers "
                        "of components")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args()
    settings = {**SETTINGS, "epochs": args.epochs, "lr": args.lr,
                "weight_decay": args.weight_decay, "beta": args.beta,
                "batch_size": args.batch_size, "hidden": args.hidden,
                "decoder_hidden": args.decoder_hidden,
                "observation_scale": args.observation_scale,
                "layer_norm": args.layer_norm, "standardise": not args.raw,
                "conditional": not args.no_cvae,
                "nonlinear_decoder": args.nonlinear_decoder, "pca_age": args.pca_age}
    n_train = args.n_train or (2 * args.n_subjects) // 3
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {settings}")
    results = [run(seed, args.n_subjects, n_train, settings, args.device) for seed in args.seeds]
    for name in ("age_vae", "age_pca", "rec_vae", "rec_pca", "site_vae", "site_cvae", "site_pca"):
        values = [r[name] for r in results]
        print(f"{name}: mean {np.mean(values):.3f}, min {np.min(values):.3f}, max {np.max(values):.3f}")


if __name__ == "__main__":
    main()
