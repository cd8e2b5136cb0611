"""Study files: a grid of data settings x models x model options x seeds, declared in TOML.

A study file::

    name = "depth-noise"
    seeds = 2                        # seeds 0 and 1 (or a list, e.g. [0, 3, 7])
    metrics = ["affine_r2", "mcc_strong"]   # optional: DEFAULT_METRICS otherwise

    [data]                           # or several [[data]] tables: the grid is their union, in file order
    components = [1, 4]              # 1 = the standard normal N(0, I)
    depth = [1, 3]                   # a list is a grid axis
    noise = [0.01, 0.05]
    samples = 1000

    [[models]]
    name = "vade"
    options = { epochs = 30, pretrain_epochs = 10, n_restarts = 1 }

Rules:
- ``[data]``: ``dataset`` = "synthetic" (default), "mnist" or "fashion-mnist". Simulated data take
  ``SyntheticSpec``'s options (latent_dim, obs_dim, prior, components, facets, covariance, weights,
  mean_scale, depth, hidden_width, activation, slope, noise), ``samples`` (default 20,000, as ``simulate``)
  and ``data_seed`` (default 0); real data ``n_train``, ``n_test`` (default: the whole split) and
  ``data_seed`` (the subsample's seed). Any value may be a list: a grid axis.
- ``components = 1`` is the standard normal N(0, I) (prior "standard-normal", the vanilla case): one
  Gaussian N(mu, Sigma) is that model up to an affine map, so no one-component mixture is offered.
  ``prior = "standard-normal"`` (or "normal") says the same. The mixture's options (covariance, weights,
  mean_scale) do not apply to it and are reset to their defaults, so its points of such an axis are one run.
- ``obs_dim`` may be a table keyed by latent_dim, ``obs_dim = { 2 = 10, 5 = 10, 10 = 20 }``: n follows m.
- ``facets = "2:3,2:4"``: MFC-VAE's m_j:K_j pairs ("none": one mixture); latent_dim and components follow.
- ``[[models]]``: ``name`` (one of ``latentid.runs.MODELS``) and ``options``, the estimator's constructor
  parameters. A list is an axis, except for the list-valued parameters (hidden_dims, encoder_dims,
  prior_dims), whose axes are lists of lists; MFC-VAE's facets are written as in [data]. iVAE also takes
  ``aux = "c"`` (the default: u = the data's true labels). random_state comes from ``seeds``; device,
  threads, checkpoints and callbacks belong to the runner, not to the file. ``patience = 0`` turns early
  stopping off, as ``latentid fit --patience 0`` does (TOML has no None).
- Defaults that follow the data: latent_dim, n_components (= the data's components) and facets (mfcvae);
  on MNIST / Fashion-MNIST the paper's setup (``latentid.experiments.mnist``) for vade and vae, and 10
  latents, 10 components and a Bernoulli likelihood for the other models.
- Skipped, with the reason recorded (``RunConfig.skip``), not refused: mfcvae on data without facets (unless
  its options give them), ivae on one-component data (u would be constant), and a model whose latent
  dimension exceeds the data's features.
- Seeds: a model's random_state is the seed; the data are drawn from data_seed, the same for every model
  seed, so the seeds measure the spread of the fit, not of the data.
- ``RunConfig.key`` hashes data, model, options and seed only (not the study's name, description or
  metrics), so two studies that declare the same run share its result in a store.
- Identical runs declared twice (e.g. K = 1 with two covariances) are expanded once.
- ``Study.check_memory()``: a simulated setting whose data alone (x and z as float64 while drawn) exceed
  this machine's memory is refused before anything runs, as ``latentid simulate`` refuses it.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import itertools
import json
import math
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
)

from latentid.data.mixing import normalise_activation
from latentid.data.synthetic import SyntheticSpec
from latentid.errors import DataFileError, InvalidParameterError
from latentid.metrics._validation import MIN_SAMPLES
from latentid.runs import MODELS

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DEFAULT_METRICS = (
    "affine_r2",
    "mcc_weak",
    "mcc_strong",
    "permutation_r2",
    "orthogonal_r2",
    "cluster_acc",
    "nmi",
    "likelihood_gap",
)
DATASETS = ("synthetic", "mnist", "fashion-mnist")
DEFAULT_SAMPLES = 20_000  # latentid simulate's default
REAL_SPLITS = {"n_train": 60_000, "n_test": 10_000}  # the published splits of both image data sets
REAL_CLASSES = 10
# Estimator parameters that the runner sets, never the study file: the reason shown when one is given.
RUNNER_OPTIONS = {
    "random_state": "comes from 'seeds'",
    "device": "is chosen by the runner ('latentid experiment run')",
    "threads": "is chosen by the runner ('latentid experiment run')",
    "callback": "is the runner's",
    "checkpoint_dir": "is the runner's",
    "pretrained": "is the runner's",
    "resume": "is the runner's",
}
RUN_LEVEL_OPTIONS = {"ivae": {"aux": "c"}}  # options that are the runner's arguments, not the estimator's
SYNTHETIC_KEYS = (
    "latent_dim",
    "obs_dim",
    "prior",
    "components",
    "facets",
    "covariance",
    "weights",
    "mean_scale",
    "depth",
    "hidden_width",
    "activation",
    "slope",
    "noise",
    "samples",
)
REAL_KEYS = ("n_train", "n_test")
MIXTURE_KEYS = ("covariance", "weights", "mean_scale")  # meaningless for the standard normal
_FACETS = re.compile(r"\s*(\d+)\s*:\s*(\d+)\s*")


def _as_list(value: Any) -> Any:
    return value if isinstance(value, list) else [value]


def _distinct_values(values: list[Any]) -> list[Any]:
    """An axis's values, refused when one is listed twice (the grid would drop the repeat without a word) or is an
    integer of 2**62 or more (as the command line refuses: 'epochs = 4611686018427387904' ran)."""
    texts = [json.dumps(value, sort_keys=True) for value in values]
    repeated = next((value for value, text in zip(values, texts, strict=True) if texts.count(text) > 1), None)
    if repeated is not None:
        raise ValueError(f"lists {json.dumps(repeated)} twice, got {json.dumps(values)}")
    huge = next((value for value in _integers(values) if abs(value) >= MAX_INT), None)
    if huge is not None:
        raise ValueError(f"holds {huge}, too large: integers must be below 2**62 ({MAX_INT:,})")
    return values


def _integers(value: Any) -> list[int]:
    """Every int inside ``value`` (lists and tables included)."""
    if type(value) is int:
        return [value]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [number for item in items for number in _integers(item)]


def _axis(item: Any) -> Any:
    """A value or a list of values (a grid axis) of ``item``; always a non-empty list of distinct values once
    validated."""
    return Annotated[list[item], BeforeValidator(_as_list), Field(min_length=1), AfterValidator(_distinct_values)]


PosInt = Annotated[int, Field(ge=1)]
NonNegInt = Annotated[int, Field(ge=0)]


def parse_facets(text: str) -> list[list[int]] | None:
    """'2:3,2:4' -> [[2, 3], [2, 4]]; 'none' -> None; ValueError for anything else."""
    if text.strip().lower() == "none":
        return None
    matches = [_FACETS.fullmatch(part) for part in text.split(",")]
    if not all(matches) or any(int(g) < 1 for m in matches for g in m.groups()):
        raise ValueError(f"must be m:K pairs such as '2:3,2:4' (or 'none'), got {text!r}")
    return [[int(m[1]), int(m[2])] for m in matches]


def facets_text(facets: Any) -> str:
    """[[2, 3], [2, 4]] -> '2:3,2:4'."""
    return ",".join(f"{m}:{k}" for m, k in facets)


class DataTable(BaseModel):
    """One [data] table; every field a non-empty list of values (a scalar is a one-value list). None = default.

    The field order is the grid order: the first axis varies slowest.
    """

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    dataset: Literal["synthetic", "mnist", "fashion-mnist"] = "synthetic"
    latent_dim: _axis(PosInt) | None = None
    obs_dim: _axis(Any) | None = None
    prior: _axis(Literal["gmm", "standard-normal", "normal"]) | None = None
    components: _axis(PosInt) | None = None
    facets: _axis(str) | None = None
    covariance: _axis(Literal["full", "diag", "isotropic"]) | None = None
    weights: _axis(Literal["uniform", "dirichlet"]) | None = None
    mean_scale: _axis(Annotated[float, Field(gt=0)]) | None = None
    depth: _axis(PosInt) | None = None
    hidden_width: _axis(PosInt) | None = None
    activation: _axis(str) | None = None
    slope: _axis(float) | None = None
    noise: _axis(Annotated[float, Field(ge=0)]) | None = None
    # each run is scored on a held-out half (run_one.EVAL_SPLIT), and each half needs MIN_SAMPLES rows: below, every
    # run failed, after the plan, on a split the file never set
    samples: _axis(Annotated[int, Field(ge=2 * MIN_SAMPLES)]) | None = None
    n_train: _axis(PosInt) | None = None
    n_test: _axis(PosInt) | None = None
    data_seed: _axis(NonNegInt) | None = None

    @field_validator("obs_dim")
    @classmethod
    def _obs_dim(cls, values: list[Any]) -> list[Any]:
        for value in values:
            table_ok = isinstance(value, dict) and all(
                k.isdigit() and type(v) is int and v >= 1 for k, v in value.items()
            )
            if not (type(value) is int and value >= 1) and not (table_ok and value):
                expected = "an int >= 1 or a table latent_dim -> obs_dim like { 2 = 10 }"
                raise ValueError(f"must be {expected}, got {value!r}")
        return values

    @field_validator("facets")
    @classmethod
    def _facets(cls, values: list[str]) -> list[str]:
        parsed = [parse_facets(value) for value in values]
        _distinct_values(parsed)  # "1:2,1:3" and "1:2, 1:3" are one value
        return values

    @field_validator("activation")
    @classmethod
    def _activation(cls, values: list[str]) -> list[str]:
        from latentid.data.mixing import normalise_activation

        _distinct_values([normalise_activation(value) for value in values])  # ValueError naming the choices
        return values


class ModelTable(BaseModel):
    """One [[models]] table: the estimator's name and its options (values or axes)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: Literal[tuple(MODELS)]  # type: ignore[valid-type]
    options: dict[str, Any] = Field(default_factory=dict)


MAX_SEEDS = 10_000  # a study of more fits per point would take years; the list of seeds alone took gigabytes
MAX_RUNS = 1_000_000  # runs in one study file (points x models x options x seeds)
MAX_INT = 2**62  # integers at or above this are refused, as by the command line (cli._common.MAX_INT)
MAX_SEED = MAX_INT - 1  # the largest seed the command line takes
SHOWN_NAME = 80  # characters of a refused name echoed: a 50 MB one was echoed whole
# The bidirectional embeddings, overrides and isolates: they reorder the text shown after them. The direction marks
# of Hebrew and Arabic text and the zero-width joiners of emoji, Persian or Hindi stay allowed.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _visible(value: str) -> str:
    shown = f"{value[:SHOWN_NAME]!r}" + (f" ... ({len(value):,} characters)" if len(value) > SHOWN_NAME else "")
    if not value.strip():
        raise ValueError(f"must hold a visible character (results and reports list runs by it), got {shown}")
    if any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in value):  # an escape sequence would reach the terminal
        raise ValueError(f"must not hold control characters (newlines, escapes), got {shown}")
    at = next((i for i, ch in enumerate(value) if ch in BIDI_CONTROLS), None)  # U+202E reverses what follows
    if at is not None:
        raise ValueError(
            f"must not hold bidirectional override or isolate characters (U+{ord(value[at]):04X} at character "
            f"{at + 1}), got {shown}"
        )
    return value


def _seeds(value: Any) -> list[int]:
    if type(value) is int:
        if value < 1:
            raise ValueError(f"must be an int >= 1 (seeds 0..n-1) or a list of ints >= 0, got {value!r}")
        if value > MAX_SEEDS:
            raise ValueError(f"must be at most {MAX_SEEDS:,} (one fit per seed and point), got {value:,}")
        return list(range(value))
    if not isinstance(value, list) or not value or any(type(s) is not int or s < 0 for s in value):
        raise ValueError(f"must be an int >= 1 (seeds 0..n-1) or a non-empty list of ints >= 0, got {value!r}")
    if len(value) > MAX_SEEDS:
        raise ValueError(f"must list at most {MAX_SEEDS:,} seeds (one fit per seed and point), got {len(value):,}")
    if len(set(value)) != len(value):
        raise ValueError(f"lists a seed twice, got {value!r}")
    if max(value) > MAX_SEED:
        raise ValueError(f"must list seeds of at most {MAX_SEED:,} (as `latentid fit --seed`), got {max(value):,}")
    return value


def _check_metrics(values: list[str]) -> list[str]:
    from latentid.metrics.report import METRIC_DESCRIPTIONS, metric_description

    for name in values:
        if metric_description(name) == ("", ""):
            hint = _did_you_mean(name, METRIC_DESCRIPTIONS)
            raise ValueError(f"unknown metric {name!r}{hint}")
    if len(set(values)) != len(values):
        raise ValueError(f"lists a metric twice, got {values!r}")
    return values


class RunConfig(BaseModel):
    """One run of a study: the resolved data setting, model, options and seed.

    ``data`` holds every option of the data (defaults included); ``options`` every constructor parameter of
    the estimator except the runner's (``RUNNER_OPTIONS``), plus ``aux`` for ivae. ``skip`` is the reason
    the run cannot apply (None: run it); ``varying`` the study's axes (paths like "data.depth"), for labels.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    study: str
    data: dict[str, Any]
    model: str
    options: dict[str, Any]
    seed: int
    metrics: list[str]
    skip: str | None = None
    varying: list[str] = Field(default_factory=list)

    @property
    def key(self) -> str:
        """20 hex digits of SHA-256 over the canonical JSON of data, model, options and seed."""
        identity = {"data": self.data, "model": self.model, "options": self.options, "seed": self.seed}
        text = json.dumps(identity, sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def to_json(self) -> str:
        return json.dumps(self.model_dump(), sort_keys=True, allow_nan=False)

    @classmethod
    def from_json(cls, text: str, source: str = "<run config>") -> RunConfig:
        """The inverse of ``to_json``; DataFileError naming ``source`` for anything else."""
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(map(str, first["loc"])) or "config"
            raise DataFileError(f"{source}: not a latentid run config ({where}: {first['msg']})") from None

    def estimator_options(self) -> dict[str, Any]:
        """The estimator's keyword arguments (``options`` without run-level ones such as ivae's aux);
        ``patience = 0`` (as ``latentid fit --patience 0``: no early stopping) becomes None."""
        run_level = RUN_LEVEL_OPTIONS.get(self.model, {})
        options = {k: v for k, v in self.options.items() if k not in run_level}
        if type(options.get("patience")) is int and options["patience"] == 0:
            options["patience"] = None
        return options

    def synthetic_spec(self) -> SyntheticSpec | None:
        """The SyntheticSpec of simulated data (seed = data_seed); None for a real data set."""
        if self.data["dataset"] != "synthetic":
            return None
        return SyntheticSpec(**_spec_kwargs(self.data))

    def label(self) -> str:
        """A short name, e.g. 'vade m=2 K=4 depth=3 noise=0.05 n=1000 seed=1' (plus the study's other axes)."""
        d = self.data
        if d["dataset"] == "synthetic":
            mixture = f"facets={facets_text(d['facets'])}" if d["facets"] else f"K={d['components']}"
            parts = [f"m={d['latent_dim']}", mixture, f"depth={d['depth']}", f"noise={d['noise']:g}"]
            parts.append(f"n={d['samples']}")
            shown = {"data.latent_dim", "data.components", "data.facets", "data.depth", "data.noise", "data.samples"}
        else:
            parts = [d["dataset"]] + [f"{k}={d[k]}" for k in REAL_KEYS if d[k] is not None]
            shown = {f"data.{k}" for k in ("dataset", *REAL_KEYS)}
        for path in self.varying:
            if path not in shown:
                section, name = path.split(".", 1)
                value = (d if section == "data" else self.options).get(name)
                parts.append(f"{name}={display(value)}")
        return " ".join([self.model, *parts, f"seed={self.seed}"])


def display(value: Any) -> str:
    """A config value as a short string: facets as '2:3,2:4', lists as '64x64', floats by %g unless that merges
    two values (then in full: two runs' labels were the same)."""
    if isinstance(value, float):
        from latentid.experiments.report import short_float

        return short_float(value)
    if isinstance(value, list):
        if value and all(isinstance(v, list) and len(v) == 2 for v in value):
            return facets_text(value)
        return "x".join(map(str, value))
    return str(value)


class Study(BaseModel):
    """A validated study file. ``expand()`` lists its runs; ``axes()`` what varies among them."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: Annotated[str, Field(min_length=1), AfterValidator(_visible)]
    description: str = ""
    seeds: Annotated[list[int], BeforeValidator(_seeds)]
    metrics: Annotated[list[str], Field(min_length=1)] = Field(default_factory=lambda: list(DEFAULT_METRICS))
    data: Annotated[list[DataTable], BeforeValidator(_as_list), Field(min_length=1)]
    models: Annotated[list[ModelTable], Field(min_length=1)]
    _source: str = PrivateAttr("<study>")
    _raw: dict = PrivateAttr(default_factory=dict)
    _runs: list[RunConfig] | None = PrivateAttr(None)

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, values: list[str]) -> list[str]:
        return _check_metrics(values)

    # ------------------------------------------------------------------ grid
    def expand(self) -> list[RunConfig]:
        """Every run: for each [data] table, its points (first key slowest) x models (file order) x their
        option points x seeds; identical runs once. Raises InvalidParameterError naming the file and point."""
        if self._runs is None:
            self._runs = self._expand()
        return list(self._runs)

    def _expand(self) -> list[RunConfig]:
        option_axes = [self._option_axes(i, table) for i, table in enumerate(self.models)]
        option_points = sum(math.prod(map(len, axes.values())) for axes in option_axes)
        # counted from the axes' lengths before any point is built: 10^8 data points took gigabytes, then hung
        data_points = sum(
            math.prod(len(values) for key, values in table if key != "dataset" and values is not None)
            for table in self.data
        )
        count = data_points * option_points * len(self.seeds)
        if count > MAX_RUNS:
            raise self._fail(
                "the grid",
                f"it holds {count:,} runs ({data_points:,} data points x {option_points:,} model and option points x "
                f"{len(self.seeds):,} seeds), more than {MAX_RUNS:,}: split it into several studies, or use fewer "
                "seeds or axis values",
            )
        points = [list(self._data_points(i, table)) for i, table in enumerate(self.data)]
        runs: list[tuple[dict, str, dict, int, str | None]] = []
        for data_points in points:
            for data in data_points:
                for model, axes in zip(self.models, option_axes, strict=True):
                    for values in itertools.product(*axes.values()):
                        options, skip = _resolve_options(model.name, dict(zip(axes, values, strict=True)), data)
                        runs.extend((data, model.name, options, seed, skip) for seed in self.seeds)
        declared = {key for table in self.data for key in table.model_fields_set}
        own = _options_varying_by_model(runs, self.models, option_axes)
        varying = _varying(runs, declared)
        varying += [path for paths in own.values() for path in paths if path not in varying]
        configs, seen = [], set()
        for data, model, options, seed, skip in runs:
            config = RunConfig(
                study=self.name,
                data=data,
                model=model,
                options=options,
                seed=seed,
                metrics=list(self.metrics),
                skip=skip,
                # a run's label names the options its own model's tables vary: not another model's lr (which it
                # would show as this model's default, or None)
                varying=[p for p in varying if not p.startswith("options.") or p in own.get(model, ())],
            )
            if config.key not in seen:
                seen.add(config.key)
                configs.append(config)
        return configs

    def axes(self) -> dict[str, list]:
        """What varies: {"data.depth": [1, 3], "options.epochs": [30, 60], ...}, values in grid order.

        Data keys with more than one resolved value; options the file gives more than one value.
        """
        configs = self.expand()
        declaring = {key: {m.name for m in self.models if key in m.options} for m in self.models for key in m.options}
        found: dict[str, list] = {path: [] for config in configs for path in config.varying}
        for config in configs:
            for path, values in found.items():
                section, name = path.split(".", 1)
                if section == "options" and config.model not in declaring[name]:
                    continue  # another model's value, which follows the data
                source = config.data if section == "data" else config.options
                if name in source and source[name] not in values:
                    values.append(source[name])
        return found

    def check_memory(self, limit: int | None = None) -> None:
        """InvalidParameterError naming the file and the point when a simulated setting's data cannot fit in
        ``limit`` bytes (None: this machine's memory; no check where the system does not tell it)."""
        limit = machine_memory() if limit is None else limit
        if not limit:
            return
        for i, table in enumerate(self.data):
            for data in self._data_points(i, table):
                need = data_bytes(data)
                if need > limit:
                    text = (
                        f"{data['samples']:,} samples of {data['obs_dim']}-D x and {data['latent_dim']}-D z need at "
                        f"least {need / 2**30:,.1f} GiB, more than this machine's {limit / 2**30:,.1f} GiB: not enough "
                        "memory for this request; ask for fewer samples"
                        + (" or a smaller obs_dim" if data["obs_dim"] > data["samples"] else "")
                    )
                    field = "obs_dim" if data["obs_dim"] > data["samples"] else "samples"
                    raise self._fail(f"{self._data_where(i)}.{field}", text)

    # ------------------------------------------------------------------ data
    def _data_where(self, i: int) -> str:
        return f"data[{i}]" if isinstance(self._raw.get("data"), list) else "data"

    def _fail(self, where: str, text: str) -> InvalidParameterError:
        return InvalidParameterError(f"{self._source}: {where}: {text}")

    def _data_points(self, i: int, table: DataTable) -> list[dict]:
        where = self._data_where(i)
        given = {k: v for k, v in table if k != "dataset" and v is not None}
        allowed = SYNTHETIC_KEYS if table.dataset == "synthetic" else REAL_KEYS
        for key in given:
            if key not in (*allowed, "data_seed"):
                what = "simulated data" if key in SYNTHETIC_KEYS else "dataset 'mnist' or 'fashion-mnist'"
                raise self._fail(f"{where}.{key}", f"only for {what}; this table's dataset is '{table.dataset}'")
        points = []
        for values in itertools.product(*given.values()):
            point = dict(zip(given, values, strict=True))
            label = ", ".join(f"{k}={display(v)}" for k, v in point.items() if len(given[k]) > 1)
            try:
                points.append(_resolve_data(table.dataset, point))
            except ValueError as exc:
                raise self._fail(f"{where} point ({label})" if label else where, _one_line(exc)) from None
        return points

    # ------------------------------------------------------------------ models
    def _option_axes(self, i: int, table: ModelTable) -> dict[str, list]:
        """{option: [values]} of one [[models]] table, each value checked against the estimator's constraints."""
        cls = MODELS[table.name]
        params = cls().get_params()
        run_level = RUN_LEVEL_OPTIONS.get(table.name, {})
        constraints = getattr(cls, "_parameter_constraints", {})
        axes = {}
        for key, raw in table.options.items():
            where = f"models[{i}].options.{key}"
            if key in RUNNER_OPTIONS:
                raise self._fail(where, f"not set in a study file: {key} {RUNNER_OPTIONS[key]}")
            if key not in params and key not in run_level:
                hint = _did_you_mean(key, [*params, *run_level])
                text = f"unknown key {key!r}{hint}: not a parameter of {cls.__name__}"
                raise self._fail(f"models[{i}].options", text)
            try:
                values = _option_values(key, raw, constraints.get(key, []))
                if not values:
                    raise ValueError("must not be an empty list")
                checked = [_check_option(table.name, key, value, constraints.get(key, [])) for value in values]
                _distinct_values(checked)  # as checked: tol = [0, 0.0] is one value twice
            except ValueError as exc:
                raise self._fail(where, _one_line(exc)) from None
            axes[key] = checked
        return axes


# ---------------------------------------------------------------------- resolution
def machine_memory() -> int | None:
    """This machine's physical memory in bytes; None where the system does not tell it."""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return pages * size if pages > 0 and size > 0 else None


def data_bytes(data: dict) -> int:
    """A lower bound on the memory a resolved data setting takes while simulated: x and z as float64
    (``SyntheticGenerator.sample``); 0 for a real data set (its size is bounded by the published split)."""
    if data["dataset"] != "synthetic":
        return 0
    return int(data["samples"]) * (int(data["obs_dim"]) + int(data["latent_dim"])) * 8


def _spec_kwargs(data: dict) -> dict:
    """SyntheticSpec keyword arguments of a resolved data dict."""
    kwargs = {k: data[k] for k in SyntheticSpec.model_fields if k in data and k != "seed"}
    return {**kwargs, "seed": data["data_seed"]}


def _resolve_data(dataset: str, point: dict) -> dict:
    """One grid point -> the full data dict (every option explicit); ValueError when impossible."""
    point = dict(point)
    data_seed = point.pop("data_seed", 0)
    if dataset != "synthetic":
        from latentid.experiments.consistency import MIN_ROWS

        for key, size in REAL_SPLITS.items():
            if point.get(key, 0) > size:
                raise ValueError(f"{key} must be <= {size} (the split's size), got {point[key]}")
            if point.get(key) is not None and point[key] < MIN_ROWS:  # every run failed on it, after the plan
                raise ValueError(f"{key} must be >= {MIN_ROWS} (rows to fit and score on), got {point[key]}")
        if data_seed and all(point.get(key) is None for key in REAL_SPLITS):
            raise ValueError(
                f"data_seed {data_seed} draws nothing here: on {dataset} it seeds the n_train / n_test subsample, and "
                "with neither set every data_seed gives the same data; set n_train or n_test, or drop data_seed"
            )
        return {"dataset": dataset, **{k: point.get(k) for k in REAL_KEYS}, "data_seed": data_seed}
    samples = point.pop("samples", DEFAULT_SAMPLES)
    facets = parse_facets(point.pop("facets")) if "facets" in point else None
    if point.get("prior") == "normal":
        point["prior"] = "standard-normal"
    if facets is not None:
        point["facets"] = facets
    elif point.get("components") == 1:  # K = 1 is the standard normal (see the module's docstring)
        point["prior"] = "standard-normal"
    if point.get("prior") == "standard-normal":
        point.pop("components", None)
        for key in MIXTURE_KEYS:
            point.pop(key, None)
    # Keys that change nothing where they are set are folded, as the mixture's are above: slope = [0.1, 0.2] with
    # tanh, or hidden_width at depth 1 (no hidden layer), ran as separate settings of byte-identical data.
    activation = normalise_activation(point.get("activation", SyntheticSpec.model_fields["activation"].default))
    if activation != "leaky-relu":
        point.pop("slope", None)
    if point.get("depth", SyntheticSpec.model_fields["depth"].default) == 1:
        point.pop("hidden_width", None)
    if isinstance(point.get("obs_dim"), dict):
        default_m = SyntheticSpec.model_fields["latent_dim"].default
        m = sum(f[0] for f in facets) if facets else point.get("latent_dim", default_m)
        if str(m) not in point["obs_dim"]:
            raise ValueError(f"obs_dim's table has no entry for latent_dim {m}")
        point["obs_dim"] = point["obs_dim"][str(m)]
    try:
        spec = SyntheticSpec(**point, seed=data_seed)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise ValueError(_pydantic_text(first)) from None
    resolved = spec.model_dump(mode="json", exclude={"seed"})
    resolved["hidden_width"] = spec.hidden_width_resolved
    resolved["facets"] = [list(f) for f in spec.facets] if spec.facets else None
    return {"dataset": "synthetic", **resolved, "samples": samples, "data_seed": data_seed}


def _data_defaults(model: str, data: dict, params: dict) -> dict:
    """The options that follow the data: latent_dim, n_components, facets; the MNIST setup on real data."""
    found: dict[str, Any] = {}
    if data["dataset"] == "synthetic":
        found = {"latent_dim": data["latent_dim"], "n_components": data["components"], "facets": data["facets"]}
    else:
        from latentid.experiments.mnist import MNIST_DEFAULTS, MNIST_VADE

        found = {"latent_dim": MNIST_VADE["latent_dim"], "n_components": REAL_CLASSES, "likelihood": "bernoulli"}
        found.update(MNIST_DEFAULTS.get(model, {}))
    return {k: v for k, v in found.items() if k in params and v is not None}


@functools.cache
def _model_params(model: str) -> dict:
    return MODELS[model]().get_params()


def follows_data(model: str, data: Any, key: str, value: Any) -> bool:
    """Whether ``value`` of option ``key`` is what a run of ``model`` on the resolved ``data`` takes from the data
    (latent_dim, n_components, facets; the MNIST setup on real data) rather than from the study file."""
    try:
        resolved = {"dataset": "synthetic", "facets": None, **dict(data)}  # as _resolve_data spells them
        defaults = _data_defaults(model, resolved, _model_params(model))
    except (KeyError, TypeError, ValueError):  # a model or a data record of another shape (a hand-edited store)
        return False
    return key in defaults and json.loads(json.dumps(defaults[key])) == value


def _resolve_options(model: str, given: dict, data: dict) -> tuple[dict, str | None]:
    """(every option of the estimator, resolved; the reason it cannot run or None)."""
    params = {k: v for k, v in MODELS[model]().get_params().items() if k not in RUNNER_OPTIONS}
    options = {**params, **RUN_LEVEL_OPTIONS.get(model, {}), **_data_defaults(model, data, params), **given}
    options = json.loads(json.dumps(options))  # tuples -> lists: the canonical JSON form
    for key in _inert_options(options):  # as `latentid fit` refuses them; here an axis of them ran as equal runs
        options[key] = json.loads(json.dumps(params[key]))
    features = data["obs_dim"] if data["dataset"] == "synthetic" else 784
    skip = None
    if model == "mfcvae" and "facets" not in given and "facets" not in _data_defaults(model, data, params):
        skip = "mfcvae needs facets: the data have none; give options.facets to fit it anyway"
    elif model == "ivae" and data["dataset"] == "synthetic" and data["components"] == 1:
        skip = "ivae needs labels u with at least 2 values: the data have one component"
    latent = sum(f[0] for f in options["facets"]) if model == "mfcvae" else options.get("latent_dim")
    if skip is None and latent is not None and latent > features:
        skip = f"the model's latent dimension {latent} exceeds the data's {features} features"
    return options, skip


def _inert_options(options: dict) -> list[str]:
    """The options that the others make do nothing (the rules by which `latentid fit` refuses their flags): the
    noise scale and standardising of a Bernoulli likelihood, the prior-term estimator of an importance-weighted or
    refined bound, the refinement steps of amortised inference."""
    inert = []
    if options.get("likelihood") == "bernoulli":
        inert += ["noise_scale", "standardize"]
    if options.get("inference") == "refined" or (options.get("iw_samples") or 1) > 1:
        inert.append("elbo")
    if options.get("inference") != "refined":
        inert.append("refine_steps")
    return [key for key in inert if key in options]


def _is_pair(value: Any) -> bool:
    """Whether ``value`` is a (latent_dim, n_components) pair as TOML writes it: a list of two ints."""
    return isinstance(value, list) and len(value) == 2 and all(type(v) is int for v in value)


def _option_values(key: str, raw: Any, constraints: list) -> list:
    """The axis of one option: list-valued parameters take lists of lists, facets strings, others lists."""
    from latentid.models.params import FACETS, IntSequence

    if any(c is FACETS for c in constraints):
        pairs = isinstance(raw, list) and raw and all(_is_pair(v) for v in raw)
        if pairs:  # facets = [[1, 2], [1, 2]]: one value written as pairs, not an axis of two (each refused)
            return [raw]
        return [(parse_facets(v) if isinstance(v, str) else v) for v in _as_list(raw)] if raw != [] else []
    if any(isinstance(c, IntSequence) for c in constraints):
        return raw if isinstance(raw, list) and raw and all(isinstance(v, list) for v in raw) else [raw]
    return _as_list(raw)


def _check_option(model: str, key: str, value: Any, constraints: list) -> Any:
    """The value, ints made floats where the parameter is a float; ValueError naming what is expected."""
    from latentid.models.params import Interval

    if key == "patience" and type(value) is int and value == 0:
        return 0  # as `latentid fit --patience 0`: never stop early (TOML has no None); None for the estimator
    if key in RUN_LEVEL_OPTIONS.get(model, {}):
        if value != RUN_LEVEL_OPTIONS[model][key]:
            raise ValueError(f"must be {RUN_LEVEL_OPTIONS[model][key]!r} (u = the data's labels), got {value!r}")
        return value
    if constraints and not any(c.accepts(value) for c in constraints):
        raise ValueError(f"must be {' or '.join(c.describe() for c in constraints)}, got {value!r}")
    floats = [c for c in constraints if isinstance(c, Interval) and c.kind is float]
    ints = [c for c in constraints if isinstance(c, Interval) and c.kind is int]
    if floats and not ints and type(value) is int:
        return float(value)
    return value


def _varying(runs: list, declared: set[str]) -> list[str]:
    """Data keys a [data] table gives that take more than one resolved value (not those that only follow
    others, such as hidden_width); the options are each model's (``_options_varying_by_model``)."""
    keys = list(dict.fromkeys(key for run in runs for key in run[0]))
    paths = [
        f"data.{key}"
        for key in keys
        if (key in declared or key == "latent_dim" and "facets" in declared)
        and len({json.dumps(run[0].get(key)) for run in runs}) > 1
    ]
    return paths


def _options_varying_by_model(runs: list, models, option_axes: list[dict]) -> dict[str, list[str]]:
    """Per model name, the options one of its [[models]] tables gives that take more than one value over that
    model's runs: an axis of one table, or two tables of the model (fastica with tol 1e-5, and with 1e-1)."""
    declared: dict[str, dict[str, None]] = {}  # ordered as the file gives them, so that labels are too
    for model, axes in zip(models, option_axes, strict=True):
        declared.setdefault(model.name, {}).update(dict.fromkeys(axes))
    seen: dict[str, dict[str, set[str]]] = {}
    for _, model, options, _, _ in runs:
        for key in declared[model]:
            seen.setdefault(model, {}).setdefault(key, set()).add(json.dumps(options.get(key)))
    return {model: [f"options.{k}" for k, values in keys.items() if len(values) > 1] for model, keys in seen.items()}


# ---------------------------------------------------------------------- errors
def _did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _bound(error: dict, name: str, sign: str) -> str:
    bound = error["ctx"][name]
    kind = "an int" if type(bound) is int else "a number"
    return f"must be {kind} {sign} {bound:g}"


_TEXTS = {
    "int_type": lambda e: "must be an int",
    "float_type": lambda e: "must be a number",
    "string_type": lambda e: "must be a string",
    "bool_type": lambda e: "must be true or false",
    "list_type": lambda e: "must be a list",
    "dict_type": lambda e: "must be a table",
    "model_type": lambda e: "must be a table",
    "model_attributes_type": lambda e: "must be a table",
    "finite_number": lambda e: "must be a finite number",
    "literal_error": lambda e: f"must be one of {e['ctx']['expected']}",
    "greater_than_equal": lambda e: _bound(e, "ge", ">="),
    "greater_than": lambda e: _bound(e, "gt", ">"),
    "less_than_equal": lambda e: _bound(e, "le", "<="),
    "less_than": lambda e: _bound(e, "lt", "<"),
    "too_short": lambda e: "must not be empty",
    "string_too_short": lambda e: "must not be empty",
}


def _pydantic_text(error: dict) -> str:
    """One pydantic error as 'must be ..., got X' (a validator's own message as it is)."""
    if error["type"] == "value_error":
        return _one_line(error["msg"].removeprefix("Value error, "))
    text = _TEXTS.get(error["type"])
    if text is None:
        return _one_line(error["msg"][:1].lower() + error["msg"][1:])
    return f"{text(error)}, got {error['input']!r}"


def _loc_text(loc: tuple, raw: Any) -> str:
    """('data', 0, 'depth', 1) -> 'data.depth[1]': list indices only where the file wrote a list."""
    text, node = "", raw
    for part in loc:
        if isinstance(part, int):
            if isinstance(node, list):
                text += f"[{part}]"
                node = node[part] if part < len(node) else None
        else:
            text += f".{part}" if text else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return text


def _allowed_keys(loc: tuple) -> list[str]:
    if len(loc) <= 1:
        return list(Study.model_fields)
    return list(DataTable.model_fields if loc[0] == "data" else ModelTable.model_fields)


def _node_at(raw: Any, loc: tuple) -> Any:
    """The part of the file at ``loc`` (('models', 0) -> raw['models'][0]); None where there is none."""
    node = raw
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return None
    return node


def _validation_message(exc: ValidationError, raw: dict) -> str:
    error = exc.errors(include_url=False)[0]
    loc = error["loc"]
    if error["type"] == "extra_forbidden":
        hint = _did_you_mean(str(loc[-1]), _allowed_keys(loc))
        return f"unknown key {_loc_text(loc, raw)!r}{hint}"
    if error["type"] == "missing":
        # a misspelt required key is both missing and unknown: name the key the file has ('seed' for 'seeds')
        node = _node_at(raw, loc[:-1])
        keys = [key for key in node if isinstance(key, str)] if isinstance(node, dict) else []
        close = difflib.get_close_matches(str(loc[-1]), keys, n=1, cutoff=0.6)
        have = f" (the file has {close[0]!r}: a misspelling?)" if close else ""
        return f"missing key {_loc_text(loc, raw)!r}{have}"
    if loc[-1:] == ("dataset",) and error["type"] == "literal_error" and isinstance(error["input"], list):
        return f"{_loc_text(loc, raw)}: not an axis: one data set per [[data]] table (write one table for each)"
    if loc == ("models",) and error["type"] == "list_type":
        return "models: must be an array of tables, each written [[models]]"
    return f"{_loc_text(loc, raw) or 'study'}: {_pydantic_text(error)}"


def load_study(path: str | Path) -> Study:
    """Read and validate a study file, expanding its grid once so an impossible point fails here.

    InvalidParameterError (bad keys or values) and DataFileError (unreadable file, bad TOML), one line each.
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:  # a data file or a store given in its place
        raise DataFileError(
            f"{path}: not a study file: it is not UTF-8 text (a data file or a results store?). Give the study's "
            ".toml file, e.g. configs/quick.toml."
        ) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise DataFileError(f"{path}: cannot read the study file ({reason})") from None
    except RecursionError:
        raise DataFileError(f"{path}: not valid TOML: nested thousands of levels deep.") from None
    except tomllib.TOMLDecodeError as exc:
        raise DataFileError(f"{path}: not valid TOML: {_one_line(exc)}") from None
    try:
        study = Study.model_validate(raw)
    except ValidationError as exc:
        raise InvalidParameterError(f"{path}: {_validation_message(exc, raw)}") from None
    study._source, study._raw = str(path), raw
    study.expand()
    return study
