"""What every command shares: consoles, the error handler, JSON output."""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import re
import sys
from collections.abc import Callable, Iterable
from enum import Enum
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.segment import Segment

from latentid._atomic import DISK_FULL, OutputTakenError
from latentid.errors import InvalidParameterError, LatentIDError

PIPE_CLOSED_EXIT = 141  # 128 + SIGPIPE: what a shell reports of a program whose reader went away (`| head`)


def stdout_gone() -> NoReturn:
    """End quietly because stdout's reader closed the pipe (``latentid results | head -1``): no ``error:`` line
    and not exit code 2, as nothing was wrong with the input. stdout goes to /dev/null, so that Python's flush
    at exit does not fail again."""
    with contextlib.suppress(OSError, ValueError):  # no real stdout (a test runner's): nothing to redirect
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    raise SystemExit(PIPE_CLOSED_EXIT)


def stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone (poll reports an error on it); False where it cannot say."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows), or no real stdout (a test runner's)
        return False


# Control characters (but tab, newline and carriage return) shown as \x1b: a file name, a CSV column or a store row
# holding ESC[2J cleared the user's terminal, or retitled it, when a note or a table echoed it.
_SHOWN_ESCAPED = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if c not in (0x09, 0x0A, 0x0D)}


class StreamFullError(OSError):
    """The disk that stdout (or stderr) is redirected to is full: ``stream`` names it, ``fileno`` is its descriptor.
    Told apart from a full disk under an output file, whose advice ("free some space and run the command again")
    made the user rerun a command whose files were written, to be refused as "already exists"."""

    def __init__(self, errno: int, strerror: str, stream: str, fileno: int):
        super().__init__(errno, strerror)
        self.stream, self.fileno = stream, fileno


class _Console(Console):
    """rich's Console, ending as ``stdout_gone`` does when its reader closes the pipe (rich's own exits 1), raising
    StreamFullError when its stream's disk is full, and printing the control characters of text it is given as
    escapes (its own styles and cursor moves are kept)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        stdout_gone()

    def _check_buffer(self) -> None:
        try:
            super()._check_buffer()
        except OSError as exc:
            if exc.errno not in DISK_FULL or isinstance(exc, StreamFullError):
                raise
            self.quiet = True  # nothing more can be shown there
            stream = "standard error" if self.stderr else "standard output"
            try:
                fileno = self.file.fileno()
            except (AttributeError, ValueError, OSError):  # a test runner's stream
                fileno = -1
            raise StreamFullError(exc.errno, exc.strerror, stream, fileno) from None

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        return super()._render_buffer(
            segment if segment.control else Segment(segment.text.translate(_SHOWN_ESCAPED), *segment[1:])
            for segment in buffer
        )


console = _Console(soft_wrap=True)
err_console = _Console(stderr=True, soft_wrap=True)  # status lines unfolded: logs and long paths stay whole


def unicode_ok(target: Console) -> bool:
    """Whether ``target`` writes an encoding that holds marks such as a tick (UTF-8); under ASCII or cp1252
    (``PYTHONIOENCODING``, an old terminal) they crashed ``explain`` with UnicodeEncodeError."""
    return target.encoding.lower().replace("-", "").replace("_", "").startswith("utf")


def print_unfolded(table, header: list[str], cells: list[list[str]]) -> None:
    """Print a rich ``table`` (columns ``header``, rows ``cells``) as wide as its cells need: where stdout is
    narrow or not a terminal (80 columns) rich would fold the numbers into '0.…'."""
    widths = [max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(header)]
    _Console(width=max(console.width, sum(widths) + 3 * len(widths) + 1)).print(table)


F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 2):
    """Print ``error: message`` as one line on stderr and exit with ``code``."""
    message = " ".join(str(message).split())  # one line, whatever the message held
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True, highlight=False)
    raise typer.Exit(code=code) from None


MAX_INT = 2**62  # an integer option at or above this is refused before the command runs
BATCH_SIZE_HELP = (
    "Minibatch size, or auto [default: auto: 256, or fewer (down to 32) so that an epoch takes at least 20 steps]."
)


def batch_size_value(value: str) -> int | str:
    """--batch-size's parser: a whole number, or 'auto' (the estimators' default, which the help describes)."""
    text = str(value).strip()
    if text.lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise typer.BadParameter(f"'{value}' is neither a whole number nor auto.") from None


batch_size_value.__name__ = "int|auto"  # what --help shows

# The estimators' parameters and the flags that set them: an error raised by an estimator (or the training
# loop) names the parameter; at the command line it names the flag.
PARAM_FLAGS = {
    "latent_dim": "--latent-dim",
    "n_components": "--components",
    "n_restarts": "--restarts",
    "hidden_dims": "--decoder-width/--decoder-depth",
    "encoder_dims": "--encoder-width/--encoder-depth",
    "lr": "--lr",
    "batch_size": "--batch-size",
    "epochs": "--epochs",
    "pretrain_epochs": "--pretrain-epochs",
    "pretrain_objective": "--pretrain-objective",
    "init_selection": "--init-selection",
    "covariance": "--covariance",
    "likelihood": "--likelihood",
    "noise_scale": "--noise-scale",
    "elbo": "--elbo",
    "inference": "--inference",
    "refine_steps": "--refine-steps",
    "iw_samples": "--iw-samples",
    "kl_warmup_epochs": "--kl-warmup-epochs",
    "progressive_epochs": "--progressive-epochs",
    "patience": "--patience",
    "standardize": "--standardize/--no-standardize",
    "random_state": "--seed",
    "checkpoint_dir": "--out",
    "threads": "--threads",
    "device": "--device",
    "facets": "--facets",
    "obs_dim": "--obs-dim",
    "hidden_width": "--hidden-width",
    "mean_scale": "--mean-scale",
    "train_samples": "--train-samples",
    "test_samples": "--test-samples",
}
_PARAMETER_OF = re.compile(r"The '(\w+)' parameter of \w+ ")
# The simulator's settings are its flags with dashes: "Invalid simulation setting: latent_dim: ..." -> "--latent-dim".
_SETTING = re.compile(r"(Invalid simulation setting: |; )(?!spec:)([a-z][a-z_]*)(?=: )")
_QUOTED = re.compile(r"'(\w+)'")
# name=value (likelihood='bernoulli', device='auto' or 'cpu') -> the flag as typed: --likelihood bernoulli.
_ASSIGNED = re.compile(r"(?<![\w/.:\\-])(\w+)=('[^']*'(?: or '[^']*')*|-?[\w.+-]*\w)")
# "must be an int >= 1 or None": a flag cannot be given None.
_OR_NONE = re.compile(
    r"(--[\w-]+ must be (?:[^.;]|\.(?=\d))*?) or None\b"
)  # "> 0.0 or None": a decimal point is no stop
# Estimator parameters with no flag: the command sets them itself, so the user is told their meaning and
# never to change them ("lower --components / validation_fraction" -> "lower --components").
NO_FLAG = {"validation_fraction": "the validation share"}
_NO_FLAG_ALTERNATIVE = re.compile(r"(?: / | or (?:lower )?)(?:" + "|".join(NO_FLAG) + r")\b")
# numpy's answer to a file that is neither .npy nor .npz (it falls back to unpickling, which latentid refuses).
_NOT_NUMPY = re.compile(
    r"could not read the (\.np[yz]) file( given to --[\w-]+)? "
    r"\(\w+: This file contains pickled \(object\) data\..*\)\.?$"
)
_NOT_IN_A_NAME = r"[\w/.:\\-]"  # a parameter name inside a path or a longer word is left alone
_BARE = re.compile(
    rf"(?<!{_NOT_IN_A_NAME})("
    + "|".join(sorted((n for n in [*PARAM_FLAGS, "n_features"] if "_" in n), key=len, reverse=True))
    + r")(?![\w/:\\-]|\.\w)"
)


def flag_names(message: str) -> str:
    """``message`` with the estimators' parameter names replaced by the command-line flags that set them:
    "The 'n_components' parameter of VaDE must be ..." -> "--components must be ...", "'lr'" -> "--lr",
    a simulation setting's field -> its flag, a bare snake_case name (``latent_dim``) -> its flag,
    ``likelihood='gaussian'`` -> ``--likelihood gaussian``, and "or None" after a flag's rule is dropped.
    A parameter with no flag (``NO_FLAG``) is named by its meaning and not offered as a fix.
    Other words are left alone."""

    def of(match: re.Match) -> str:
        name = match.group(1)
        return f"{PARAM_FLAGS[name]} " if name in PARAM_FLAGS else match.group(0)

    def assigned(match: re.Match) -> str:
        name, value = match.group(1), match.group(2).replace("'", "")
        if name in NO_FLAG:
            return f"{NO_FLAG[name]} {value}"
        return f"{PARAM_FLAGS[name]} {value}" if name in PARAM_FLAGS else match.group(0)

    message = _SETTING.sub(lambda m: f"{m.group(1)}--{m.group(2).replace('_', '-')}", message)
    message = _NO_FLAG_ALTERNATIVE.sub("", message)
    message = _ASSIGNED.sub(assigned, message)
    message = _PARAMETER_OF.sub(of, message)
    message = _QUOTED.sub(lambda m: PARAM_FLAGS.get(m.group(1), m.group(0)), message)
    message = _BARE.sub(lambda m: PARAM_FLAGS.get(m.group(1), "the number of features"), message)
    return _OR_NONE.sub(r"\1", message)


def readable(message: str) -> str:
    """``message`` with what only a programmer reads put in the user's words: numpy's "This file contains
    pickled (object) data ... allow_pickle=" about a file that is not a NumPy file at all."""
    return _NOT_NUMPY.sub(
        r"is not a valid \1 file\2 (numpy found no array in it: a text file, or another format renamed). "
        r"Write it with numpy.save / numpy.savez, or give a .csv or .parquet file.",
        message,
    )


def friendly_errors(fn: F | None = None, *, name_flags: bool = True):
    """Turn latentid's own errors into one line on stderr and exit code 2 (no traceback).

    ``name_flags``: the estimators' parameter names in a message become the flags that set them
    (``flag_names``); off for commands whose user writes the parameter names themselves (study files)."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            for name, value in kwargs.items():  # no array, tensor or loop can be this large: refused by flag
                if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= MAX_INT:
                    fail(f"--{name.replace('_', '-')} {value} is too large (at most {MAX_INT - 1}).")
            try:
                return fn(*args, **kwargs)
            except LatentIDError as exc:
                fail(readable(flag_names(str(exc)) if name_flags else str(exc)))
            except BrokenPipeError as exc:  # stdout's reader went away: not the user's file system saying no
                if stdout_closed():
                    stdout_gone()
                fail(f"{exc.strerror or exc} (a pipe this command wrote to was closed).")
            except OSError as exc:  # the user's file system said no: a bad --out, no permission, disk full
                where = f"{exc.filename}: " if exc.filename else ""
                if isinstance(exc, StreamFullError):  # the output files were fine: the terminal's redirect was not
                    with contextlib.suppress(OSError, ValueError):  # so that Python's flush at exit fails no more
                        os.dup2(os.open(os.devnull, os.O_WRONLY), exc.fileno)
                    fail(
                        f"{exc.stream} could not be written: no space left on the device it goes to (what this command "
                        "wrote before it printed is kept). Free some space there, or redirect "
                        f"{exc.stream} elsewhere."
                    )
                if exc.errno in DISK_FULL:
                    fail(f"{where}no space left on the device. Free some space and run the command again.")
                if isinstance(exc, OutputTakenError):  # another command wrote the --out this one had checked was free
                    fail(f"{where}already exists (written since this command began). {REPLACE_OR_ELSEWHERE}")
                fail(f"{where}{exc.strerror or exc}. Check the path and its folder.")
            except MemoryError:
                fail("not enough memory for this request; ask for fewer samples or a smaller model.")
            except OverflowError:  # a size beyond what numpy or torch can index
                fail("a number is too large for this request; ask for fewer samples or a smaller model.")
            except RecursionError:  # json.loads of a file nested thousands deep (a damaged or crafted one)
                fail("a file read here is nested thousands of levels deep (damaged, or not what latentid writes).")
            except KeyboardInterrupt:  # Typer itself would end with exit code 130 and not a word
                err_console.print("error: interrupted.", highlight=False)
                raise typer.Exit(130) from None

        return wrapper  # type: ignore[return-value]

    return decorate if fn is None else decorate(fn)


FORCE_HELP = "Replace --out if it already exists (without it, an existing --out is refused)."


REPLACE_OR_ELSEWHERE = "Add --force to replace it, or choose another --out."


def refuse_existing(path: Path, force: bool, what: str = "file") -> None:
    """The overwrite policy of every command that writes: an existing ``path`` is refused (one line naming
    it and --force) unless ``force``; a folder where a file is asked for is refused either way."""
    if what == "file" and path.is_dir():
        raise InvalidParameterError(f"--out '{path}' is a folder; name a file.")
    if path.exists() and not force:
        raise InvalidParameterError(f"{path}: already exists. {REPLACE_OR_ELSEWHERE}")


class Split(str, Enum):
    """Which published split --data mnist / fashion-mnist reads."""

    train = "train"
    test = "test"
    all = "all"


DATA_HELP = (
    "Data: a file (.npz/.npy/.csv/.tsv/.parquet; .csv.gz/.tsv.gz), or mnist / fashion-mnist (the published IDX "
    "files, see --data-dir)."
)
SPLIT_HELP = "With --data mnist|fashion-mnist: the train (60,000), test (10,000) or all split [default: train]."
DATA_DIR_HELP = (
    "With --data mnist|fashion-mnist: the folder holding mnist/ and fashion-mnist/, the only one looked in when "
    "given [default: $LATENTID_DATA, then the user cache folder]."
)

X_COLUMNS_HELP = (
    "With a CSV/Parquet --data: the x columns, by name or 0-based position, in order (x0,x1,x2 or 0-9). "
    "Without it, columns named z0,z1,.. / c or c0,c1,.. / u0,.. are read as the true latents, labels and "
    "auxiliary variable, an unnamed first column as the row index, and the rest as x."
)


class Header(str, Enum):
    """Whether a CSV/TSV --data file's first row is its column names (--header)."""

    auto = "auto"
    yes = "yes"
    no = "no"


HEADER_HELP = (
    "With a CSV/TSV --data: yes if the first row is the column names, no if it is data. auto takes a first row "
    "of text, or of distinct whole numbers above decimal data (wavelengths, times), for the names, and says so "
    "in a note when it holds numbers [default: auto]."
)
HEADER_CHOICE = {None: None, Header.auto: None, Header.yes: True, Header.no: False}


def load_data(
    data: str,
    split: Split | None = None,
    data_dir: Path | None = None,
    x_columns: str | None = None,
    header: Header | None = None,
    min_samples: int = 2,
    unneeded: tuple[str, ...] = (),
):
    """The Dataset a --data value names (published data set or file), with --split, --data-dir, --x-columns
    and --header; ``min_samples`` 1 for a command that only applies a fitted model; ``unneeded`` the roles
    (z, c, u) it does not read, left out with a note where they cannot be read (``read_dataset``). What the reader
    recognised in a CSV/Parquet file (``Dataset.notes``) goes to stderr as ``note:`` lines."""
    from latentid.data.sources import open_data

    choice = HEADER_CHOICE[None if header is None else Header(header)]
    dataset = open_data(
        data,
        None if split is None else split.value,
        data_dir,
        x_columns,
        header=choice,
        min_samples=min_samples,
        unneeded=unneeded,
    )
    print_notes(dataset)
    return dataset


@contextlib.contextmanager
def runs_columns_named(recorded: str | None):
    """Errors about --x-columns that the user did not type, but the run recorded (``recorded``), say so: "no column
    'x0'" named a flag given to another command."""
    try:
        yield
    except LatentIDError as exc:
        if recorded is None or "--x-columns" not in str(exc):
            raise
        text = str(exc).rstrip(".")
        raise type(exc)(
            f"{text} (--x-columns {recorded} is the run's own, from its run.json; give --x-columns to choose others)."
        ) from None


def print_notes(dataset) -> None:
    """What the reader recognised in a data file (``Dataset.notes``), as ``note:`` lines on stderr, once each."""
    for note in dict.fromkeys(dataset.notes):
        err_console.print(f"note: {escape(' '.join(note.split()))}", soft_wrap=True, highlight=False)


def note_oversubscription(threads: int | None, flag: str = "--threads", what: str = "threads") -> None:
    """A ``note:`` line on stderr when ``flag`` (--threads, or --jobs of a local study) asks for more ``what``
    than the cores this process may use."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if threads is not None and cores and threads > cores:
        err_console.print(
            f"note: {flag} {threads} is more than the {cores} CPU core(s) this process may use; the extra {what} "
            "make training slower, not faster.",
            soft_wrap=True,
            highlight=False,
        )


def study_interrupted(out: Path):
    """Ctrl-C in a consistency study: say that the finished seeds are kept and how to continue; exit code 130."""
    err_console.print(
        f"interrupted: the finished seeds are kept in {escape(str(out))}; run the same command again to continue "
        "(a seed stopped mid-fit resumes from its checkpoint).",
        soft_wrap=True,
        highlight=False,
    )
    raise typer.Exit(130)


def refuse_flags(given: dict[str, Any], context: str, why: str) -> None:
    """Refuse, as one InvalidParameterError, the flags of ``given`` (flag -> value) that the user set.

    Such options default to None, so that a value typed equal to the real default still counts as
    set. ``context`` is the choice that makes them inapplicable (``--model vae``), ``why`` the reason.
    """
    flags = [flag for flag, value in given.items() if value is not None]
    if flags:
        verb, pronoun = ("does", "it") if len(flags) == 1 else ("do", "them")
        raise InvalidParameterError(f"{', '.join(flags)} {verb} not apply to {context}: {why}. Drop {pronoun}.")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def print_json(payload: dict) -> None:
    """Print one JSON object on stdout (numpy values converted, non-finite floats as null)."""
    typer.echo(json.dumps(_jsonable(payload), indent=2))
