"""latentid: identifiable deep latent variable models without auxiliary information."""

from latentid.data.io import Dataset, read_dataset
from latentid.data.synthetic import SyntheticGenerator, SyntheticSpec
from latentid.errors import LatentIDError
from latentid.theory import assess

__version__ = "0.1.0"

__all__ = ["Dataset", "LatentIDError", "SyntheticGenerator", "SyntheticSpec", "assess", "read_dataset", "__version__"]
