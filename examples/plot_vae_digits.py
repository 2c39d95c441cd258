"""
A variational autoencoder on the digits
=======================================

This example trains a VAE with a 10-dimensional latent space on the 8x8
handwritten digits that ship with scikit-learn, then asks two questions a
researcher asks of any learned representation: how well does the model
explain held-out data (its negative evidence lower bound, in nats per image),
and how much of the class structure do the latent means keep (the accuracy of
a logistic regression trained on them, next to PCA with as many components).
It ends with a figure of test reconstructions and of images decoded from
samples of the prior, also saved as ``vae_digits.png``.
"""

# %%
# Data: 70 % of the digits to train, 30 % held out, stratified by class.
# The pixels are grey levels from 0 to 16; they are modelled as they are.
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from torch import nn

from nidl.estimators.autoencoders import VAE

digits = load_digits()
X = digits.data.astype(np.float32)
X_train, X_test, y_train, y_test = train_test_split(
    X, digits.target, test_size=0.3, stratify=digits.target, random_state=0
)
print(f"{len(X_train)} training and {len(X_test)} test images of {X.shape[1]} pixels")

# %%
# Model: two-layer MLPs for the encoder and the decoder. The VAE adds the
# linear heads for the posterior mean and log-variance itself. With the
# default Normal likelihood the reconstruction term is the squared error in
# grey levels.
torch.manual_seed(0)
hidden = 256
encoder = nn.Sequential(
    nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
)
decoder = nn.Sequential(
    nn.Linear(10, hidden), nn.ReLU(),
    nn.Linear(hidden, hidden), nn.ReLU(),
    nn.Linear(hidden, 64),
)
vae = VAE(
    encoder,
    decoder,
    encoder_out_dim=hidden,
    latent_dim=10,
    beta=1.0,
    stochastic_transform=False,
    lr=1e-3,
    batch_size=64,
    random_state=0,
    max_epochs=100,
    enable_progress_bar=False,
)
vae.fit(X_train)

# %%
# Evaluation: the ELBO on the test set (``score`` returns it, higher is
# better) and a linear read-out of the digit class from the latent means.
negative_elbo = -vae.score(X_test)
classifier = LogisticRegression(max_iter=5000)
accuracy = classifier.fit(vae.transform(X_train), y_train).score(
    vae.transform(X_test), y_test
)
pca = PCA(n_components=10, random_state=0).fit(X_train)
pca_accuracy = (
    LogisticRegression(max_iter=5000)
    .fit(pca.transform(X_train), y_train)
    .score(pca.transform(X_test), y_test)
)
print(f"test negative ELBO: {negative_elbo:.2f} nats per image")
print(f"logistic regression accuracy on the VAE latent means: {accuracy:.4f}")
print(f"logistic regression accuracy on 10 PCA components:   {pca_accuracy:.4f}")

# %%
# Figure: test images, their reconstructions (decoder means of the posterior
# means) and new images decoded from samples of the prior N(0, I).
n_shown = 10
reconstructions = vae.inverse_transform(vae.transform(X_test[:n_shown]))
with torch.random.fork_rng():
    torch.manual_seed(0)
    samples = vae.sample(n_shown).cpu().numpy()

fig, axes = plt.subplots(3, n_shown, figsize=(n_shown, 3.4))
rows = [("test", X_test[:n_shown]), ("reconstruction", reconstructions),
        ("prior sample", samples)]
for row, (title, images) in enumerate(rows):
    for col in range(n_shown):
        ax = axes[row, col]
        ax.imshow(images[col].reshape(8, 8), cmap="gray_r", vmin=0, vmax=16)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[row, 0].set_ylabel(title, rotation=0, ha="right", va="center")
fig.suptitle("VAE on the digits: 10 latent dimensions")
fig.tight_layout()
fig.savefig("vae_digits.png", dpi=100)
print("figure saved to vae_digits.png")
