"""Self-supervised encoders of brain volumes against a VAE and PCA: age and site.

For each seed, a cohort of ``make_brain_cohort`` subjects at 4 mm is cropped
to the MNI152 brain box by :class:`~nidl.maskers.NiftiVolumeMasker` (zero
outside the brain), each volume standardised inside the brain, and split into
training and test subjects. Then, at the same embedding size and with the
same budget (encoder, epochs, batch size, optimiser, learning rate):

- SimCLR, y-Aware (age in years; a Gaussian kernel whose bandwidth
  ``--bandwidth`` is its variance, 5 years^2 by default, a standard
  deviation of 2.2 years), Barlow Twins and DINO train the same small 3-D
  convolutional encoder (:class:`~nidl.nn.ConvEncoder`) on the training
  subjects, from two views of each volume made in the loader: an
  erased box (cutout, the augmentation Dufumier et al. (2021) found best
  for brain MRI) and Gaussian noise;
- a VAE with that encoder and the mirrored :class:`~nidl.nn.ConvDecoder`
  trains on the same volumes (no views), with the shared observation scale
  that the user guide recommends for brains; its embedding is the posterior
  means;
- PCA of the voxels inside the brain box, fitted on the training subjects.

The embeddings are read by linear probes fitted on the training subjects and
scored on the test subjects: a ridge regression of age (its penalty chosen by
cross-validation on the training subjects) gives the test R^2, a logistic
regression of the acquisition site (3 sites, chance 1/3) the test accuracy.
Each embedding is standardised on the training subjects first.

Printed, never asserted, one line per seed and the mean over seeds::

    age R^2 (ridge probe): y-Aware x.xx, SimCLR x.xx, BarlowTwins x.xx, DINO x.xx,
    VAE x.xx, PCA x.xx; site accuracy: ...

Dufumier et al. (2021) found y-Aware's representations of brain MRI better
than SimCLR's for the diagnoses they classified; the line says whether
y-Aware's embeddings also predict age better than SimCLR's here.

Run from the repository root (a few minutes per seed on 2 CPU cores)::

    .venv/bin/python benchmarks/bench_ssl_brain.py [--seeds 0 1 2] [--device cpu]

A smoke test, seconds::

    .venv/bin/python benchmarks/bench_ssl_brain.py --seeds 0 --n-subjects 24 --epochs 1
"""

import argparse
import time

import numpy as np
import torch
from nilearn.datasets import load_mni152_brain_mask
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.preprocessing import StandardScaler

from nidl.datasets import make_brain_cohort
from nidl.estimators.autoencoders import VAE
from nidl.estimators.ssl import DINO, BarlowTwins, SimCLR, YAwareContrastiveLearning
from nidl.maskers import NiftiVolumeMasker
from nidl.nn import ConvDecoder, ConvEncoder
from nidl.transforms import (
    Compose,
    MultiViewsTransform,
    RandomErasing,
    RandomGaussianNoise,
)

#: The models, in the order of the printed line.
MODELS = ("y-Aware", "SimCLR", "BarlowTwins", "DINO", "VAE", "PCA")

SETTINGS = {
    "embedding_dim": 16,
    "widths": (8, 16, 32),
    "epochs": 30,
    "batch_size": 32,
    "learning_rate": 1e-3,
    "bandwidth": 5.0,
    "temperature": 0.1,
}


def brain_volumes(n_subjects, seed):
    """The cohort's volumes cropped to the brain box and standardised in the
    brain, with the subjects' age and site."""
    images, factors = make_brain_cohort(n_subjects, resolution=4, random_state=seed)
    masker = NiftiVolumeMasker(load_mni152_brain_mask(resolution=4)).fit()
    volumes = masker.transform(images)
    inside = masker.mask_img_.get_fdata()[masker.bounding_box_] > 0
    brain = volumes[:, 0][:, inside]
    mean, std = brain.mean(axis=1), brain.std(axis=1)
    volumes = (volumes - mean.reshape(-1, 1, 1, 1, 1)) / std.reshape(-1, 1, 1, 1, 1)
    volumes[:, 0][:, ~inside] = 0.0
    return volumes.astype(np.float32), factors.age.to_numpy(), factors.site.to_numpy()


def views(n_views=2):
    """Random views of a volume: cutout then Gaussian noise."""
    augment = Compose([
        RandomErasing(scale=(0.05, 0.25), ratio=(1.0, 2.0), value=0.0),
        RandomGaussianNoise(mean=0.0, std=(0.0, 0.2)),
    ])
    return MultiViewsTransform(augment, n_views=n_views)


def ssl_models(box, settings, seed, device):
    """The four self-supervised estimators, each with a fresh encoder."""
    dim = settings["embedding_dim"]
    common = {
        "proj_input_dim": dim, "learning_rate": settings["learning_rate"],
        "weight_decay": 5e-4, "lr_scheduler": "none",
        "batch_size": settings["batch_size"], "max_epochs": settings["epochs"],
        "random_state": seed, "accelerator": device,
        "enable_progress_bar": False, "logger": False,
        "enable_checkpointing": False, "enable_model_summary": False,
    }
    contrastive = {"proj_hidden_dim": 64, "proj_output_dim": 32,
                   "temperature": settings["temperature"]}

    def encoder():
        torch.manual_seed(seed)
        return ConvEncoder(box, in_channels=1, widths=settings["widths"],
                           out_features=dim)

    return {
        "y-Aware": YAwareContrastiveLearning(
            encoder(), bandwidth=settings["bandwidth"], transforms=views(),
            **contrastive, **common),
        "SimCLR": SimCLR(encoder(), transforms=views(), **contrastive, **common),
        "BarlowTwins": BarlowTwins(
            encoder(), proj_hidden_dim=64, proj_output_dim=64,
            transforms=views(), **common),
        "DINO": DINO(
            encoder(), proj_hidden_dim=64, proj_bottleneck_dim=16,
            proj_output_dim=256, num_local_crops=0, warmup_teacher_temp_epochs=0,
            transforms=views(), **common),
    }


def vae_model(box, settings, seed, device):
    """A VAE with the same encoder and the mirrored decoder."""
    torch.manual_seed(seed)
    hidden = 64
    return VAE(
        ConvEncoder(box, in_channels=1, widths=settings["widths"], out_features=hidden),
        ConvDecoder(settings["embedding_dim"], box, out_channels=1,
                    widths=settings["widths"]),
        encoder_out_dim=hidden, latent_dim=settings["embedding_dim"],
        lr=settings["learning_rate"], batch_size=settings["batch_size"],
        max_epochs=settings["epochs"], stochastic_transform=False,
        observation_scale="shared", random_state=seed, accelerator=device,
        enable_progress_bar=False, logger=False, enable_checkpointing=False,
        enable_model_summary=False,
    )


def probe_scores(Z, age, site, train, test):
    """Test R^2 of a ridge probe of age and test accuracy of a logistic probe
    of site, both fitted on the training subjects' standardised embeddings."""
    scaler = StandardScaler().fit(Z[train])
    Z = scaler.transform(Z)
    ridge = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(Z[train], age[train])
    logistic = LogisticRegression(max_iter=2000).fit(Z[train], site[train])
    return ridge.score(Z[test], age[test]), logistic.score(Z[test], site[test])


def run(seed, n_subjects=240, n_train=160, settings=SETTINGS, device="cpu", log=print):
    """Measure one seed; returns a dictionary of the figures."""
    volumes, age, site = brain_volumes(n_subjects, seed)
    box = volumes.shape[2:]
    order = np.random.default_rng(seed).permutation(n_subjects)
    train, test = order[:n_train], order[n_train:]
    embeddings, seconds = {}, {}
    for name, model in ssl_models(box, settings, seed, device).items():
        start = time.perf_counter()
        if name == "y-Aware":
            model.fit(volumes[train], age[train].astype(np.float32))
        else:
            model.fit(volumes[train])
        seconds[name] = time.perf_counter() - start
        embeddings[name] = np.asarray(model.transform(volumes))
    start = time.perf_counter()
    vae = vae_model(box, settings, seed, device).fit(volumes[train])
    seconds["VAE"] = time.perf_counter() - start
    embeddings["VAE"] = np.asarray(vae.transform(volumes))
    flat = volumes.reshape(n_subjects, -1)
    start = time.perf_counter()
    pca = PCA(settings["embedding_dim"], random_state=seed).fit(flat[train])
    seconds["PCA"] = time.perf_counter() - start
    embeddings["PCA"] = pca.transform(flat)
    figures = {"seed": seed, "seconds": seconds, "age": {}, "site": {}}
    for name in MODELS:
        figures["age"][name], figures["site"][name] = probe_scores(
            embeddings[name], age, site, train, test)
    log(f"seed {seed}: " + format_line(figures["age"], figures["site"]))
    log(f"seed {seed}: fit seconds: " + ", ".join(
        f"{name} {seconds[name]:.0f}" for name in MODELS))
    return figures


def format_line(age, site):
    """The benchmark's line from the age R^2 and site accuracy of each model."""
    return (
        "age R^2 (ridge probe): "
        + ", ".join(f"{name} {age[name]:.2f}" for name in MODELS)
        + "; site accuracy: "
        + ", ".join(f"{name} {site[name]:.2f}" for name in MODELS)
        + " (chance 0.33)"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-subjects", type=int, default=240)
    parser.add_argument("--n-train", type=int, default=None,
                        help="training subjects (default: two thirds)")
    parser.add_argument("--epochs", type=int, default=SETTINGS["epochs"])
    parser.add_argument("--batch-size", type=int, default=SETTINGS["batch_size"])
    parser.add_argument("--embedding-dim", type=int, default=SETTINGS["embedding_dim"])
    parser.add_argument("--learning-rate", type=float,
                        default=SETTINGS["learning_rate"])
    parser.add_argument("--bandwidth", type=float, default=SETTINGS["bandwidth"],
                        help="y-Aware's kernel bandwidth: the variance of its "
                        "Gaussian kernel, in years^2")
    parser.add_argument("--temperature", type=float, default=SETTINGS["temperature"])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args()
    settings = {**SETTINGS, "epochs": args.epochs, "batch_size": args.batch_size,
                "embedding_dim": args.embedding_dim,
                "learning_rate": args.learning_rate, "bandwidth": args.bandwidth,
                "temperature": args.temperature}
    n_train = args.n_train or (2 * args.n_subjects) // 3
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {settings}")
    results = [run(seed, args.n_subjects, n_train, settings, args.device)
               for seed in args.seeds]
    mean = {key: {name: float(np.mean([r[key][name] for r in results]))
                  for name in MODELS} for key in ("age", "site")}
    seeds = ", ".join(str(seed) for seed in args.seeds)
    print(f"mean over seeds {seeds}: " + format_line(mean["age"], mean["site"]))
    wins = sum(r["age"]["y-Aware"] > r["age"]["SimCLR"] for r in results)
    print(f"y-Aware's age R^2 above SimCLR's on {wins} of {len(results)} seeds")


if __name__ == "__main__":
    main()
