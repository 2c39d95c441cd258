"""
A Joint VAE finds digit classes without labels
==============================================

The Joint VAE (Dupont, 2018) gives each image a few continuous latents and
one categorical latent with 10 categories, relaxed with the Gumbel-softmax
so that it can be trained by gradient descent. Two capacities, one per kind
of latent, rise during training and let information into the code slowly;
the discrete one is capped at log(10), the most a 10-way choice can hold.
Nothing tells the model what the categories should mean, yet the cheapest
way to spend 2.3 nats on a digit is often to say which digit it is. This
example trains a :class:`~nidl.estimators.autoencoders.JointVAE` on the 8x8
digits, compares its predicted category with the digit labels by the
adjusted Rand index, next to k-means with 10 clusters on the same pixels,
and shows what each category decodes to.
"""

# %%
# Data: the 1797 digits. The labels are kept aside, only to evaluate the
# clusters. Halved grey levels (0 to 8) set the weight of the squared-error
# reconstruction against the capacity terms (30 per nat of distance).
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.metrics import adjusted_rand_score, confusion_matrix
from torch import nn

from nidl.estimators.autoencoders import JointVAE

digits = load_digits()
X = (digits.data / 2.0).astype(np.float32)
labels = digits.target
batch_size, max_epochs = 64, 60
n_steps = max_epochs * int(np.ceil(len(X) / batch_size))

# %%
# Model: two continuous latents and one 10-way categorical; the decoder takes
# the 2 + 10 values of a code. Both capacities rise over the whole run (the
# 25,000 steps of the reference setting are scaled down to this short run),
# and the Gumbel-softmax temperature anneals from 1.0 to 0.5 over it too.
torch.manual_seed(0)
hidden = 64
encoder = nn.Sequential(
    nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
)
decoder = nn.Sequential(
    nn.Linear(2 + 10, hidden), nn.ReLU(),
    nn.Linear(hidden, hidden), nn.ReLU(),
    nn.Linear(hidden, 64),
)
vae = JointVAE(
    encoder,
    decoder,
    encoder_out_dim=hidden,
    latent_dim=2,
    categorical_dims=(10,),
    temperature=1.0,
    min_temperature=0.5,
    temperature_steps=n_steps,
    continuous_capacity_max=1.0,
    continuous_capacity_steps=n_steps,
    discrete_capacity_max=np.log(10),
    discrete_capacity_steps=n_steps,
    lr=1e-3,
    weight_decay=0.0,
    batch_size=batch_size,
    random_state=0,
    max_epochs=max_epochs,
    enable_progress_bar=False,
)
vae.fit(X)
# ``history_`` holds each epoch's mean of the loss terms and the value of the
# temperature and capacities at its last step.
last = {name: values[-1] for name, values in vae.history_.items()}
print(
    f"after {vae.n_steps_} steps: "
    f"temperature {last['train/temperature']:.2f}, "
    f"continuous KL {last['train/continuous_kl_loss']:.2f} nats "
    f"(capacity {last['train/continuous_capacity']:.2f}), "
    f"discrete KL {last['train/discrete_kl_loss']:.2f} nats "
    f"(capacity {last['train/discrete_capacity']:.2f})"
)

# %%
# Clusters: ``predict`` returns the most likely category of each image. The
# adjusted Rand index compares it with the digit labels (1 for the same
# partition, 0 for chance), next to k-means with 10 clusters on the pixels.
categories = vae.predict(X)
kmeans = KMeans(n_clusters=10, n_init=10, random_state=0).fit_predict(X)
joint_ari = adjusted_rand_score(labels, categories)
kmeans_ari = adjusted_rand_score(labels, kmeans)
print(f"categories used: {len(np.unique(categories))} of 10")
print(f"adjusted Rand index, Joint VAE category: {joint_ari:.3f}")
print(f"adjusted Rand index, k-means (10):       {kmeans_ari:.3f}")

# %%
# Figure: how the digits spread over the categories (each row a digit, each
# column a category, ordered by the digit they hold most), and what each
# category decodes to with the continuous latents at the prior mean.
counts = confusion_matrix(labels, categories, labels=range(10))
order = np.argsort(counts.argmax(axis=0), kind="stable")
codes = np.zeros((10, 12), dtype=np.float32)
codes[np.arange(10), 2 + order] = 1.0
prototypes = vae.inverse_transform(codes)

fig = plt.figure(figsize=(8, 5))
grid = fig.add_gridspec(2, 10, height_ratios=[4, 1])
ax = fig.add_subplot(grid[0, :])
ax.imshow(counts[:, order], cmap="Blues")
for (row, col), count in np.ndenumerate(counts[:, order]):
    if count:
        ax.text(col, row, count, ha="center", va="center", fontsize=7)
ax.set_xticks(range(10), [str(c) for c in order])
ax.set_yticks(range(10))
ax.set_xlabel("Joint VAE category")
ax.set_ylabel("digit")
ax.set_title(f"adjusted Rand index {joint_ari:.2f} (k-means: {kmeans_ari:.2f})")
for col in range(10):
    ax = fig.add_subplot(grid[1, col])
    ax.imshow(prototypes[col].reshape(8, 8), cmap="gray_r", vmin=0, vmax=8)
    ax.set_axis_off()
fig.tight_layout()
plt.show()
