"""What a ``--data`` value names: a published data set ('mnist', 'fashion-mnist') or a data file."""

from __future__ import annotations

import os
from collections.abc import Collection

from latentid.data.io import Dataset, read_dataset
from latentid.data.real import is_real_dataset_name, load_real
from latentid.errors import InvalidParameterError


def open_data(
    data: str | os.PathLike,
    split: str | None = None,
    data_dir: str | os.PathLike | None = None,
    x_columns: str | None = None,
    *,
    header: bool | None = None,
    min_samples: int = 2,
    unneeded: Collection[str] = (),
) -> Dataset:
    """Read ``data``: a published data set by name (``split`` train/test/all, default train) or a file.

    ``split`` and ``data_dir`` only apply to published data sets; given with a file they are refused.
    ``x_columns`` (the ``--x-columns`` value, see ``read_dataset``) only applies to CSV and Parquet files,
    ``header`` (``--header``) to CSV files; ``min_samples``: the fewest rows a file may have; ``unneeded``: roles
    the caller does not read (``read_dataset``).
    """
    if is_real_dataset_name(data):
        if x_columns is not None:
            raise InvalidParameterError(
                f"--x-columns applies to CSV and Parquet files, not to the published data set {data}. Drop it."
            )
        if header is not None:
            raise InvalidParameterError(
                f"--header applies to CSV and TSV files, not to the published data set {data}. Drop it."
            )
        return load_real(str(data).lower(), split or "train", data_dir)
    given = [flag for flag, value in (("--split", split), ("--data-dir", data_dir)) if value is not None]
    if given:
        raise InvalidParameterError(
            f"{' and '.join(given)} {'applies' if len(given) == 1 else 'apply'} only to --data mnist or --data "
            f"fashion-mnist, not to the file {data}. Drop {'it' if len(given) == 1 else 'them'}."
        )
    return read_dataset(data, x_columns, header=header, min_samples=min_samples, unneeded=unneeded)
