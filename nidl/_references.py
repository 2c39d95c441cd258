"""Citations that several docstrings give, written once.

Each entry is one numpydoc reference, numbered ``[1]`` (the docstrings that
use them cite one work, as ``[1]_``), to be filled into a ``References``
section by :func:`nidl._docstrings.docstring_filler`: a module passes
``REFERENCES`` among its snippets and writes ``%(chen2018)s`` in the section.
"""

#: The papers of the methods that the losses implement and that the
#: estimators and metrics cite too.
REFERENCES = {
    "higgins2017": """.. [1] I. Higgins et al., "beta-VAE: Learning Basic Visual Concepts with a
   Constrained Variational Framework", ICLR 2017.""",
    "burgess2018": """.. [1] C. P. Burgess et al., "Understanding disentangling in
   beta-VAE", arXiv:1804.03599, 2018.""",
    "chen2018": """.. [1] R. T. Q. Chen, X. Li, R. Grosse and D. Duvenaud, "Isolating
   Sources of Disentanglement in Variational Autoencoders", NeurIPS 2018.""",
    "dupont2018": """.. [1] E. Dupont, "Learning Disentangled Joint Continuous and Discrete
   Representations", NeurIPS 2018.""",
}
