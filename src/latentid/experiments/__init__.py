"""Studies: run settings x models x seeds, store results, report them."""
