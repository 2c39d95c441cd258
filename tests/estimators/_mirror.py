"""An MLP encoder and decoder pair that adapts to any number of features.

The encoder infers its input width on first use and tells the decoder, which
then creates an output layer of the same width. scikit-learn's estimator
checks fit one estimator on data of many widths; this pair lets the VAE take
part in all of them.
"""

import torch
from torch import nn


class Width:
    """Number of features seen by the encoder, shared with the decoder."""

    n_features = None


class LazyEncoder(nn.Module):
    def __init__(self, width, hidden=8):
        super().__init__()
        self.width = width
        self.layer = nn.LazyLinear(hidden)

    def forward(self, x):
        self.width.n_features = x.shape[1]
        return torch.relu(self.layer(x))


class MirrorDecoder(nn.Module):
    def __init__(self, width, latent_dim=2, hidden=8):
        super().__init__()
        self.width = width
        self.hidden = nn.Linear(latent_dim, hidden)
        self.out = None

    def forward(self, z):
        if self.out is None:
            self.out = nn.Linear(self.hidden.out_features,
                                 self.width.n_features).to(z.device)
        return self.out(torch.relu(self.hidden(z)))


def mirrored_mlp(hidden=8, latent_dim=2):
    """Encoder and decoder sharing one width record."""
    width = Width()
    return LazyEncoder(width, hidden), MirrorDecoder(width, latent_dim, hidden)
