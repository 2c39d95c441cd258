"""nidl: deep learning for neuroimaging with the scikit-learn API."""

__version__ = "0.1.0.dev0"
