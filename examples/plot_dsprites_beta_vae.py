"""
Disentangling the factors of dSprites-style images with a beta-VAE
===================================================================

The beta-VAE weights the KL term of the VAE objective by ``beta``; values
above 1 press the posterior towards the factorised prior and are meant to
give latent dimensions that each follow one generative factor. This example
trains VAEs with ``beta`` = 1, 4 and 8 on dSprites-style images, whose five
factors (shape, scale, orientation, horizontal and vertical position) are
known, shows the latent traversals of one model and measures each with the
mutual information gap (MIG) and the FactorVAE score. The budget is tiny
(4,000 images, four epochs) so that it runs in a minute; the
scores are those of a short run, not of converged models.
"""

# %%
# Data: 4,000 training and 1,000 test images drawn from the grid of
# 737,280 with their factors, halved to 32x32 pixels to keep training short.
import matplotlib.pyplot as plt
import numpy as np
import torch

from nidl.datasets import draw_dsprites, dsprites_factor_values, make_dsprites
from nidl.estimators.autoencoders import VAE
from nidl.metrics import factor_vae_score, mig_score
from nidl.nn import ConvDecoder, ConvEncoder
from nidl.plotting import plot_latent_traversals


def halve(images):
    return images[:, ::2, ::2].astype(np.float32)


def draw(factors):
    """Images for given factor values, as the model sees them."""
    return halve(draw_dsprites(factors))


images, factors = make_dsprites(n_samples=5000, random_state=0)
X_train, X_test = halve(images[:4000]), halve(images[4000:])
factors_test = factors[4000:]
print(f"{len(X_train)} training images of {X_train.shape[1:]} pixels")

# %%
# Models: the same convolutional encoder and decoder for every ``beta``;
# the decoder returns a Bernoulli distribution, the likelihood of binary
# pixels.


def make_vae(beta, latent_dim=6):
    torch.manual_seed(0)
    encoder = ConvEncoder((32, 32), widths=(16, 32, 32), out_features=64)
    decoder = ConvDecoder(latent_dim, (32, 32), widths=(16, 32, 32),
                          distribution="bernoulli")
    return VAE(encoder, decoder, encoder_out_dim=encoder.out_features,
               latent_dim=latent_dim, beta=beta, default_dist="bernoulli",
               lr=1e-3, weight_decay=0.0, batch_size=64,
               stochastic_transform=False, random_state=0, max_epochs=4,
               enable_progress_bar=False, accelerator="cpu")


vaes = {beta: make_vae(beta).fit(X_train) for beta in (1.0, 4.0, 8.0)}

# %%
# Scores: MIG from the posterior means of held-out images and their
# factors, the FactorVAE score from images drawn with one factor fixed
# (small sample sizes here; the defaults are those of the literature).
scores = {}
for beta, vae in vaes.items():
    mig = mig_score(vae.transform(X_test), factors_test)
    fvae = factor_vae_score(vae, draw, dsprites_factor_values(), batch_size=32,
                            n_train=150, n_eval=100, n_variance_estimate=1000,
                            random_state=0)
    scores[beta] = (mig, fvae)
    print(f"beta={beta:g}: MIG={mig:.3f}, FactorVAE score={fvae:.3f}, "
          f"test ELBO={vae.score(X_test):.1f} nats")

fig, ax = plt.subplots(figsize=(5, 3.5))
betas = list(scores)
ax.plot(betas, [s[0] for s in scores.values()], "o-", label="MIG")
ax.plot(betas, [s[1] for s in scores.values()], "s-", label="FactorVAE score")
ax.set_xlabel("beta")
ax.set_ylabel("score")
ax.set_xticks(betas)
ax.legend()
fig.tight_layout()

# %%
# Traversals: each row sets one latent dimension of a test image's code to
# values from -2.5 to 2.5; in a disentangled model a row changes one factor.
fig = plot_latent_traversals(vaes[4.0], X_test, n_steps=8)
fig.suptitle("beta-VAE (beta=4): latent traversals")
plt.show()
