"""Layers that the 3-D AlexNet and its decoder share."""

from torch import nn


def _normalized(conv):
    """``conv`` followed by a batch norm and a ReLU."""
    return [conv, nn.BatchNorm3d(conv.out_channels), nn.ReLU(inplace=True)]
