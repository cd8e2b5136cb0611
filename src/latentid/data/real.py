"""MNIST and Fashion-MNIST from their published IDX files, read with numpy and checked against pins.

Where the files are looked for: an explicit ``data_dir`` (``--data-dir``) is the only place looked in;
without one, the ``LATENTID_DATA`` environment variable, then the per-user cache folder
(``user_cache_folder()``). Each root holds one folder per data set
(``<root>/mnist/train-images-idx3-ubyte.gz``, gzipped or not). Nothing is downloaded unless
``download`` is called explicitly.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latentid._atomic import atomic_path
from latentid._shell import shell_quoted
from latentid.data.io import Dataset
from latentid.errors import DataFileError, InvalidParameterError

ENV_VAR = "LATENTID_DATA"
SPLITS = ("train", "test", "all")


@dataclass(frozen=True)
class RealDataset:
    """A published image data set: file names, SHA-256 pins of the uncompressed bytes, mirrors."""

    name: str
    title: str
    files: dict[str, str]  # role ('train-images', ...) -> file name without .gz
    sha256: dict[str, str]  # file name -> SHA-256 of its uncompressed bytes
    mirrors: tuple[str, ...]  # base URLs serving '<file name>.gz'


# Both data sets publish the same four file names.
IDX_FILES = {
    "train-images": "train-images-idx3-ubyte",
    "train-labels": "train-labels-idx1-ubyte",
    "test-images": "t10k-images-idx3-ubyte",
    "test-labels": "t10k-labels-idx1-ubyte",
}

REAL_DATASETS: dict[str, RealDataset] = {
    "mnist": RealDataset(
        name="mnist",
        title="MNIST",
        files=IDX_FILES,
        sha256={
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
    ),
    "fashion-mnist": RealDataset(
        name="fashion-mnist",
        title="Fashion-MNIST",
        files=IDX_FILES,
        sha256={
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    ),
}


def is_real_dataset_name(value: str | os.PathLike) -> bool:
    """True when ``value`` names a published data set ('mnist', 'fashion-mnist') rather than a file."""
    return str(value).lower() in REAL_DATASETS


def user_cache_folder() -> Path:
    """The per-user cache root (e.g. ~/.cache/latentid on Linux), where ``download`` puts files."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("latentid"))


def search_roots(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The roots looked in: only ``data_dir`` when one is given (a folder the user named is used, and
    only it); otherwise $LATENTID_DATA, then the user cache folder."""
    if data_dir is not None:
        return [Path(data_dir).expanduser()]
    roots = []
    if os.environ.get(ENV_VAR):
        roots.append(Path(os.environ[ENV_VAR]).expanduser())
    roots.append(user_cache_folder())
    return roots


def _spec(name: str) -> RealDataset:
    key = str(name).lower()
    if key not in REAL_DATASETS:
        raise InvalidParameterError(f"unknown data set '{name}'; choose one of {', '.join(REAL_DATASETS)}.")
    return REAL_DATASETS[key]


def _file_in(folder: Path, file_name: str) -> Path | None:
    for candidate in (folder / f"{file_name}.gz", folder / file_name):
        if candidate.is_file():
            return candidate
    return None


def download_command(name: str, root: str | os.PathLike | None = None) -> str:
    """The command line that fetches data set ``name`` into ``<root>/<name>/`` (default root: the cache)."""
    return f"latentid data download {name}" + ("" if root is None else f" --dir {shell_quoted(root)}")


def locate(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """The first ``<root>/<name>`` folder holding all four files; a one-line error listing where it looked.

    An explicit ``data_dir`` is the only root looked in: where it lacks a file, the error names the
    folder and the missing files, and never falls back to $LATENTID_DATA or the cache.
    """
    spec = _spec(name)
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        folder = root / spec.name
        missing = [f for f in spec.files.values() if _file_in(folder, f) is None]
        if not missing:
            return folder
        if root.is_dir() and all(_file_in(root, f) is not None for f in spec.files.values()):
            # Both data sets use the same four file names: only the pins say whose files these are.
            if all(_matches_pin(_file_in(root, f), pin) for f, pin in spec.sha256.items()):
                parent = (
                    f"use --data-dir {shell_quoted(root.parent)}"
                    if root.name == spec.name
                    else f"move them into {folder}"
                )
                raise DataFileError(
                    f"--data-dir {root} holds the {spec.title} files itself, but --data-dir names the folder that "
                    f"holds '{spec.name}/': {parent}."
                )
        problem = "no such folder" if not root.is_dir() else f"{folder} lacks {', '.join(missing)}, gzipped or not"
        raise DataFileError(
            f"--data-dir {root}: {spec.title} not found there ({problem}); only this folder is looked in. "
            f"Run '{download_command(spec.name, root)}', copy the four IDX files into {folder}, "
            "or drop --data-dir to use $LATENTID_DATA or the user cache folder."
        )
    roots = search_roots()
    for root in roots:
        folder = root / spec.name
        if all(_file_in(folder, f) is not None for f in spec.files.values()):
            return folder
    looked = ", ".join(str(root / spec.name) for root in roots)
    raise DataFileError(
        f"{spec.title} not found (looked in {looked}). Copy its four IDX files into "
        f"{'one of these folders' if len(roots) > 1 else 'that folder'}, "
        f"point --data-dir or ${ENV_VAR} at the folder that holds '{spec.name}/', "
        f"or run 'latentid data download {spec.name}'."
    )


def _raw_bytes(path: Path, fix: str = "") -> bytes:
    """The uncompressed bytes of ``path``; a one-line DataFileError when it cannot be read or decompressed
    (truncated, damaged: ``zlib.error`` is no OSError), ending with the hint ``fix``."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataFileError(f"{path}: could not be read ({exc}); the file is corrupt, replace it{fix}.") from exc


def _matches_pin(path: Path, pin: str) -> bool:
    """True when ``path`` reads and its uncompressed bytes have the SHA-256 ``pin``; a file that cannot be
    read or decompressed (truncated, damaged) does not match."""
    try:
        return hashlib.sha256(_raw_bytes(path)).hexdigest() == pin
    except DataFileError:
        return False


def damaged_files(folder: Path, name: str) -> list[str]:
    """The files of data set ``name`` in ``folder`` whose uncompressed bytes do not match their SHA-256 pin
    (truncated, damaged or another version); [] when all four match."""
    spec = _spec(name)
    return [
        file_name
        for file_name, pin in spec.sha256.items()
        if (path := _file_in(folder, file_name)) is None or not _matches_pin(path, pin)
    ]


def parse_idx(raw: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode IDX bytes (uint8 data) into an array of the shape in its header."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataFileError(f"{source}: not an IDX file of unsigned bytes (bad magic number).")
    n_dims = raw[3]
    header = 4 + 4 * n_dims
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=n_dims, offset=4))
    if len(raw) - header != int(np.prod(shape)):
        raise DataFileError(f"{source}: header says shape {shape} but the file holds {len(raw) - header} bytes.")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _read_checked(folder: Path, spec: RealDataset, file_name: str) -> np.ndarray:
    path = _file_in(folder, file_name)
    fetch = download_command(spec.name, folder.parent)  # fetches the files of this folder that do not match again
    raw = _raw_bytes(path, f" (or run '{fetch}')")
    digest = hashlib.sha256(raw).hexdigest()
    if digest != spec.sha256[file_name]:
        raise DataFileError(
            f"{path}: SHA-256 {digest[:12]}... does not match the published {spec.title} file "
            f"({spec.sha256[file_name][:12]}...); the copy is corrupt or different. Replace it with the original "
            f"or run '{fetch}'."
        )
    return parse_idx(raw, str(path))


def load_real(name: str, split: str = "train", data_dir: str | os.PathLike | None = None) -> Dataset:
    """Load a published data set, checked against its pins.

    Returns a Dataset with x (n, 784) float32 pixels in [0, 1] and c (n,) int64 class labels;
    n = 60,000 (train), 10,000 (test) or 70,000 ('all': train then test).
    """
    spec = _spec(name)
    if split not in SPLITS:
        raise InvalidParameterError(f"--split must be one of {', '.join(SPLITS)}; got '{split}'.")
    folder = locate(spec.name, data_dir)
    parts = ("train", "test") if split == "all" else (split,)
    xs, cs = [], []
    for part in parts:
        images = _read_checked(folder, spec, spec.files[f"{part}-images"])
        labels = _read_checked(folder, spec, spec.files[f"{part}-labels"])
        xs.append(images.reshape(len(images), -1).astype(np.float32) / np.float32(255.0))
        cs.append(labels.astype(np.int64))
    return Dataset(x=np.concatenate(xs), c=np.concatenate(cs), source=f"{spec.name}:{split} ({folder})")


def _fetch(url: str) -> bytes:
    """The bytes at ``url`` (the one place that touches the network; tests replace it)."""
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read()


def download(
    name: str,
    dest: str | os.PathLike | None = None,
    *,
    force: bool = False,
    mirrors: tuple[str, ...] | None = None,
    progress=None,
) -> Path:
    """Fetch a data set's four files into ``<dest>/<name>/`` (default: the user cache), checking the pins.

    Files already present with the right pin are kept unless ``force``; any other file (different bytes,
    or one that cannot be read: truncated, damaged) is fetched again. Each file is written atomically,
    and only after its pin matches. ``progress(file_name)`` is called before each fetch.
    Returns the data set's folder.
    """
    spec = _spec(name)
    folder = Path(dest).expanduser() / spec.name if dest is not None else user_cache_folder() / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    for file_name, pin in spec.sha256.items():
        present = _file_in(folder, file_name)
        if present is not None and not force and _matches_pin(present, pin):
            continue
        if progress is not None:
            progress(file_name)
        payload, errors = None, []
        for base in mirrors or spec.mirrors:
            url = f"{base.rstrip('/')}/{file_name}.gz"
            try:
                fetched = _fetch(url)
                digest = hashlib.sha256(gzip.decompress(fetched)).hexdigest()
            except Exception as exc:  # any network or format failure: try the next mirror
                errors.append(f"{url}: {exc}")
                continue
            if digest != pin:
                errors.append(f"{url}: SHA-256 mismatch")
                continue
            payload = fetched
            break
        if payload is None:
            raise DataFileError(f"could not fetch {spec.title} {file_name} ({'; '.join(errors)}).")
        with atomic_path(folder / f"{file_name}.gz") as tmp:
            tmp.write_bytes(payload)
    return folder
