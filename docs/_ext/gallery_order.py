"""Order of the gallery: the introductory examples first, then by file name."""

#: Examples shown first, in this order; the others follow by file name.
FIRST = ("plot_vae_digits.py", "plot_vae_pipeline_search.py")


class FirstExamplesFirst:
    """Sort key of sphinx-gallery's ``within_subsection_order``."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        rank = FIRST.index(filename) if filename in FIRST else len(FIRST)
        return (rank, filename)

    def __repr__(self):
        return f"{type(self).__name__}()"
