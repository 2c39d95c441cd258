"""
Tuning a VAE inside a scikit-learn pipeline
===========================================

A VAE can stand where a PCA would in a scikit-learn pipeline: here it sits
between a scaler and a logistic regression on the digits, and a grid search
picks the KL weight ``beta`` and the number of latent dimensions by the
cross-validated accuracy of the whole pipeline. The decoder starts with a
lazy linear layer, which infers its input width at the first fit, so that
each candidate ``latent_dim`` gets a decoder of the right size.
"""

# %%
# Data: the digits, 70 % to search on and 30 % held out for the final check.
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from nidl.estimators.autoencoders import VAE

digits = load_digits()
X_train, X_test, y_train, y_test = train_test_split(
    digits.data.astype(np.float32), digits.target, test_size=0.3,
    stratify=digits.target, random_state=0,
)

# %%
# Pipeline: standardised pixels, a small VAE whose latent means
# (``stochastic_transform=False``) feed a logistic regression.
torch.manual_seed(0)
vae = VAE(
    encoder=nn.Sequential(nn.Linear(64, 128), nn.ReLU()),
    decoder=nn.Sequential(nn.LazyLinear(128), nn.ReLU(), nn.Linear(128, 64)),
    encoder_out_dim=128,
    latent_dim=8,
    stochastic_transform=False,
    lr=2e-3,
    batch_size=64,
    random_state=0,
    max_epochs=10,
    enable_progress_bar=False,
)
pipeline = make_pipeline(StandardScaler(), vae, LogisticRegression(max_iter=2000))

# %%
# Search: every candidate is a clone of the pipeline with new VAE
# parameters, fitted on one half of the data and scored by accuracy on the
# other half, then the other way round.
grid = {"vae__beta": [0.25, 1.0, 4.0], "vae__latent_dim": [2, 8]}
search = GridSearchCV(pipeline, grid, cv=2).fit(X_train, y_train)
print("best parameters:", search.best_params_)
print(f"cross-validated accuracy: {search.best_score_:.3f}")
print(
    "held-out accuracy of the refitted best pipeline: "
    f"{search.score(X_test, y_test):.3f}"
)

# %%
# Results: accuracy against beta for each latent size. Small latent spaces
# lose class information; a large beta squeezes the code towards the prior.
results = search.cv_results_
fig, ax = plt.subplots(figsize=(5, 3.5))
for latent_dim in grid["vae__latent_dim"]:
    mask = np.asarray(results["param_vae__latent_dim"]) == latent_dim
    betas = np.asarray(results["param_vae__beta"], dtype=float)[mask]
    order = np.argsort(betas)
    ax.errorbar(
        betas[order], results["mean_test_score"][mask][order],
        yerr=results["std_test_score"][mask][order], marker="o", capsize=3,
        label=f"latent_dim={latent_dim}",
    )
ax.set_xscale("log")
ax.set_xlabel("beta")
ax.set_ylabel("cross-validated accuracy")
ax.set_title("Grid search over the VAE in a pipeline")
ax.legend()
fig.tight_layout()
