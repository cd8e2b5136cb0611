"""Study files: loading, grid expansion, run keys, one-line errors, model defaults that follow the data."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from latentid.errors import DataFileError, InvalidParameterError
from latentid.studies.spec import DEFAULT_METRICS, RunConfig, load_study

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
MINI = """
name = "mini"
seeds = 2
[data]
latent_dim = 3
obs_dim = 8
components = 5
depth = [1, 3]
noise = 0.05
samples = 500
"""


def study(tmp_path: Path, text: str, name: str = "study.toml"):
    path = tmp_path / name
    path.write_text(text)
    return load_study(path)


def models(*tables: str) -> str:
    return "".join(f"\n[[models]]\n{table}\n" for table in tables)


def test_quick_config_grid_and_order():
    runs = load_study(CONFIGS / "quick.toml").expand()
    got = [(r.data["depth"], r.data["noise"], r.model, r.seed) for r in runs]
    expected = [(d, s, m, seed) for d in (2, 4) for s in (0.01, 0.05) for m in ("vade", "pca") for seed in (0, 1)]
    assert got == expected
    assert all(r.skip is None and r.metrics == list(DEFAULT_METRICS) for r in runs)
    vade = runs[0].options
    assert (vade["epochs"], vade["pretrain_epochs"], vade["n_restarts"]) == (200, 100, 1)  # defaults, one restart
    assert (vade["latent_dim"], vade["n_components"]) == (2, 4)  # from the data


def test_synthetic_study_grid_size_is_what_its_comments_say():
    loaded = load_study(CONFIGS / "synthetic-study.toml")
    runs = loaded.expand()
    assert len(runs) == (360 + 30) * 6 * 5 == 11_700
    skipped = Counter(r.model for r in runs if r.skip)
    assert skipped == {"mfcvae": 1800, "ivae": 450}
    assert len(runs) - sum(skipped.values()) == 9450
    obs = {(r.data["latent_dim"], r.data["obs_dim"]) for r in runs}
    assert obs == {(2, 10), (5, 10), (10, 20), (4, 10)}
    assert {r.data["prior"] for r in runs if r.data["components"] == 1} == {"standard-normal"}
    assert loaded.axes()["data.depth"] == [1, 2, 3, 4, 6]


def test_seeds_as_count_or_list(tmp_path):
    assert [r.seed for r in study(tmp_path, MINI.replace("depth = [1, 3]", "") + models('name = "pca"')).expand()] == [
        0,
        1,
    ]
    listed = MINI.replace("seeds = 2", "seeds = [7, 3]").replace("depth = [1, 3]", "") + models('name = "pca"')
    assert [r.seed for r in study(tmp_path, listed).expand()] == [7, 3]


def test_options_axes_multiply_in_file_order(tmp_path):
    text = MINI + models('name = "vade"\noptions = { epochs = [5, 10], covariance = ["diag", "full"] }', 'name = "pca"')
    loaded = study(tmp_path, text)
    runs = loaded.expand()
    assert len(runs) == 2 * (4 + 1) * 2
    first = [(r.model, r.options.get("epochs"), r.options.get("covariance"), r.seed) for r in runs[:10]]
    assert first == [
        ("vade", 5, "diag", 0),
        ("vade", 5, "diag", 1),
        ("vade", 5, "full", 0),
        ("vade", 5, "full", 1),
        ("vade", 10, "diag", 0),
        ("vade", 10, "diag", 1),
        ("vade", 10, "full", 0),
        ("vade", 10, "full", 1),
        ("pca", None, None, 0),
        ("pca", None, None, 1),
    ]
    assert loaded.axes() == {"data.depth": [1, 3], "options.epochs": [5, 10], "options.covariance": ["diag", "full"]}
    assert runs[0].label() == "vade m=3 K=5 depth=1 noise=0.05 n=500 epochs=5 covariance=diag seed=0"


def test_list_valued_options_take_lists_of_lists_as_axes(tmp_path):
    one = study(tmp_path, MINI + models('name = "vae"\noptions = { hidden_dims = [16, 16] }')).expand()
    assert {tuple(r.options["hidden_dims"]) for r in one} == {(16, 16)}
    two = study(tmp_path, MINI + models('name = "vae"\noptions = { hidden_dims = [[16], [16, 16]] }')).expand()
    assert [r.options["hidden_dims"] for r in two[::2]] == [[16], [16, 16], [16], [16, 16]]


def test_model_defaults_follow_the_data(tmp_path):
    text = MINI.replace("components = 5", "components = 6") + models(
        'name = "vade"',
        'name = "gmm"',
        'name = "ivae"',
        'name = "fastica"',
        'name = "vade"\noptions = { n_components = 3 }',
    )
    by_model = {}
    for run in study(tmp_path, text).expand():
        by_model.setdefault(run.model, []).append(run.options)
    assert by_model["vade"][0]["latent_dim"] == 3 and by_model["vade"][0]["n_components"] == 6
    assert {o["n_components"] for o in by_model["vade"]} == {6, 3}  # a given option wins
    assert by_model["gmm"][0]["n_components"] == 6 and by_model["gmm"][0]["latent_dim"] == 3
    assert by_model["ivae"][0]["aux"] == "c" and by_model["ivae"][0]["latent_dim"] == 3
    assert by_model["fastica"][0]["latent_dim"] == 3
    assert "random_state" not in by_model["vade"][0] and "device" not in by_model["vade"][0]


def test_mfcvae_takes_the_data_facets_and_is_skipped_without(tmp_path):
    faceted = 'name = "f"\nseeds = 1\n[data]\nfacets = "2:3,1:2"\nobs_dim = 6\nsamples = 300\n'
    (run,) = study(tmp_path, faceted + models('name = "mfcvae"')).expand()
    assert run.options["facets"] == [[2, 3], [1, 2]] and run.skip is None
    assert run.data["latent_dim"] == 3 and run.data["components"] == 6
    plain = study(tmp_path, MINI + models('name = "mfcvae"', 'name = "vade"')).expand()
    assert all(r.skip and "mfcvae needs facets" in r.skip for r in plain if r.model == "mfcvae")
    assert all(r.skip is None for r in plain if r.model == "vade")
    given = study(tmp_path, MINI + models('name = "mfcvae"\noptions = { facets = "1:2,2:2" }')).expand()
    assert all(r.skip is None and r.options["facets"] == [[1, 2], [2, 2]] for r in given)


def test_other_skips(tmp_path):
    text = MINI.replace("components = 5", "components = [1, 5]") + models(
        'name = "ivae"', 'name = "pca"\noptions = { latent_dim = [2, 9] }'
    )
    runs = study(tmp_path, text).expand()
    ivae = {r.data["components"]: r.skip for r in runs if r.model == "ivae"}
    assert "at least 2 values" in ivae[1] and ivae[5] is None
    pca = {r.options["latent_dim"]: r.skip for r in runs if r.model == "pca"}
    assert pca[2] is None and "latent dimension 9 exceeds the data's 8 features" in pca[9]


def test_k1_is_the_standard_normal_and_collapses_mixture_axes(tmp_path):
    text = MINI.replace("components = 5", 'components = [1, 5]\ncovariance = ["full", "diag"]')
    runs = study(tmp_path, text + models('name = "vae"')).expand()
    normal = [r for r in runs if r.data["components"] == 1]
    assert {r.data["prior"] for r in normal} == {"standard-normal"}
    assert len(normal) == 2 * 2  # depth x seeds: the covariance axis is one run at K = 1
    assert len(runs) == 2 * 2 + 2 * 2 * 2
    alias = MINI.replace("components = 5", 'prior = "normal"')
    assert {r.key for r in study(tmp_path, alias + models('name = "vae"')).expand()} == {r.key for r in normal}
    spec = normal[0].synthetic_spec()
    assert spec.prior == "standard-normal" and spec.components == 1 and spec.seed == normal[0].data["data_seed"]


def test_obs_dim_table_follows_latent_dim(tmp_path):
    text = MINI.replace("latent_dim = 3", "latent_dim = [2, 6]").replace("obs_dim = 8", "obs_dim = { 2 = 5, 6 = 12 }")
    runs = study(tmp_path, text + models('name = "pca"')).expand()
    assert {(r.data["latent_dim"], r.data["obs_dim"]) for r in runs} == {(2, 5), (6, 12)}


def test_data_is_fully_resolved_and_builds_its_spec(tmp_path):
    (run, *_) = study(tmp_path, MINI + models('name = "pca"')).expand()
    assert run.data == {
        "dataset": "synthetic",
        "latent_dim": 3,
        "obs_dim": 8,
        "prior": "gmm",
        "components": 5,
        "covariance": "full",
        "weights": "uniform",
        "mean_scale": 2.0,
        "eigen_range": [0.1, 0.5],
        "activation": "leaky-relu",
        "slope": 0.2,
        "depth": 1,
        "hidden_width": 8,
        "noise": 0.05,
        "facets": None,
        "samples": 500,
        "data_seed": 0,
    }
    spec = run.synthetic_spec()
    assert (spec.latent_dim, spec.obs_dim, spec.components, spec.depth, spec.noise) == (3, 8, 5, 1, 0.05)


def test_real_data_defaults(tmp_path):
    text = 'name = "m"\nseeds = 1\n[data]\ndataset = "mnist"\nn_train = [1000, 2000]\n' + models(
        'name = "vade"', 'name = "pca"', 'name = "mfcvae"'
    )
    runs = study(tmp_path, text).expand()
    vade = next(r for r in runs if r.model == "vade")
    assert vade.data == {"dataset": "mnist", "n_train": 1000, "n_test": None, "data_seed": 0}
    assert (vade.options["latent_dim"], vade.options["n_components"], vade.options["likelihood"]) == (
        10,
        10,
        "bernoulli",
    )
    assert vade.options["hidden_dims"] == [2000, 500, 500]
    assert next(r for r in runs if r.model == "pca").options["latent_dim"] == 10
    assert all(r.skip for r in runs if r.model == "mfcvae")
    assert vade.label() == "vade mnist n_train=1000 seed=0"


def test_keys_ignore_the_study_name_and_dict_order_but_not_options(tmp_path):
    base = MINI + models('name = "vade"\noptions = { epochs = 30 }')
    keys = [r.key for r in study(tmp_path, base).expand()]
    renamed = base.replace('name = "mini"', 'name = "other"\ndescription = "same runs"')
    assert [r.key for r in study(tmp_path, renamed, "b.toml").expand()] == keys
    assert len(set(keys)) == len(keys) and all(len(k) >= 16 for k in keys)
    changed = [r.key for r in study(tmp_path, base.replace("epochs = 30", "epochs = 31"), "c.toml").expand()]
    assert not set(changed) & set(keys)
    noisier = [r.key for r in study(tmp_path, base.replace("noise = 0.05", "noise = 0.06"), "d.toml").expand()]
    assert not set(noisier) & set(keys)
    floats = [r.key for r in study(tmp_path, base.replace("epochs = 30", "epochs = 30, lr = 0.001"), "e.toml").expand()]
    assert floats == keys  # the default written out is the same run
    run = study(tmp_path, base).expand()[0]
    shuffled = RunConfig(**{**run.model_dump(), "data": dict(reversed(list(run.data.items())))})
    assert shuffled.key == run.key


def test_int_given_for_a_float_parameter_is_the_same_run(tmp_path):
    as_int = study(tmp_path, MINI + models('name = "vade"\noptions = { lr = 1 }')).expand()
    as_float = study(tmp_path, MINI + models('name = "vade"\noptions = { lr = 1.0 }'), "f.toml").expand()
    assert [r.key for r in as_int] == [r.key for r in as_float]
    noise_int = study(tmp_path, MINI.replace("noise = 0.05", "noise = 0") + models('name = "pca"'), "g.toml")
    noise_float = study(tmp_path, MINI.replace("noise = 0.05", "noise = 0.0") + models('name = "pca"'), "h.toml")
    assert [r.key for r in noise_int.expand()] == [r.key for r in noise_float.expand()]


def test_keys_are_stable_across_processes():
    runs = load_study(CONFIGS / "quick.toml").expand()
    code = (
        "from latentid.studies.spec import load_study;"
        f"print(' '.join(r.key for r in load_study({str(CONFIGS / 'quick.toml')!r}).expand()))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=None)
    assert out.stdout.split() == [r.key for r in runs]


def test_json_round_trip(tmp_path):
    for run in study(tmp_path, MINI + models('name = "vade"\noptions = { epochs = [1, 2] }')).expand():
        back = RunConfig.from_json(run.to_json())
        assert back == run and back.key == run.key and back.label() == run.label()
        assert json.loads(run.to_json())["study"] == "mini"
    with pytest.raises(DataFileError, match="results.db: not a latentid run config"):
        RunConfig.from_json('{"study": "x"}', source="results.db")


def test_identical_runs_are_listed_once(tmp_path):
    runs = study(tmp_path, MINI + models('name = "pca"', 'name = "pca"\noptions = { whiten = true }')).expand()
    assert len(runs) == 2 * 2


BAD = [
    ("[data]\nnosie = 0.1", "InvalidParameterError", "study.toml: unknown key 'data.nosie' (did you mean 'noise'?)"),
    ("[data]\ndepth = 0", "InvalidParameterError", "study.toml: data.depth: must be an int >= 1, got 0"),
    ("[data]\ndepth = [2, 0]", "InvalidParameterError", "study.toml: data.depth[1]: must be an int >= 1, got 0"),
    ('[data]\ndepth = "3"', "InvalidParameterError", "study.toml: data.depth: must be an int, got '3'"),
    ("[data]\nnoise = -0.1", "InvalidParameterError", "study.toml: data.noise: must be a number >= 0, got -0.1"),
    ('[data]\ncovariance = "ful"', "InvalidParameterError", "data.covariance: must be one of 'full', 'diag' or"),
    (
        "[data]\nlatent_dim = [2, 12]\nobs_dim = 10",
        "InvalidParameterError",
        "study.toml: data point (latent_dim=12): obs_dim (10) must be >= latent_dim (12)",
    ),
    (
        "[data]\nobs_dim = { 2 = 10 }\nlatent_dim = [2, 3]",
        "InvalidParameterError",
        "data point (latent_dim=3): obs_dim's table has no entry for latent_dim 3",
    ),
    (
        '[data]\nfacets = "2:3;2"',
        "InvalidParameterError",
        "study.toml: data.facets: must be m:K pairs such as '2:3,2:4'",
    ),
    (
        '[data]\ndataset = "mnist"\ndepth = 2',
        "InvalidParameterError",
        "study.toml: data.depth: only for simulated data",
    ),
    (
        '[data]\ndataset = "mnist"\nn_train = 70000',
        "InvalidParameterError",
        "study.toml: data: n_train must be <= 60000",
    ),
    ("[data]\nn_test = 100", "InvalidParameterError", "study.toml: data.n_test: only for dataset 'mnist'"),
    ("[data]\n[[data]]\nnoize = 1", "DataFileError", "study.toml: not valid TOML"),
    ("[data]\nnoise = = 1", "DataFileError", "(at line "),
    (
        '[modls]\nname = "x"\n[data]',
        "InvalidParameterError",
        "study.toml: unknown key 'modls' (did you mean 'models'?)",
    ),
]
MODEL_BAD = [
    ('name = "vada"', "study.toml: models[0].name: must be one of 'vade', 'vae',"),
    (
        'name = "vade"\noptions = { epoch = 3 }',
        "study.toml: models[0].options: unknown key 'epoch' (did you mean 'epochs'?)",
    ),
    ('name = "vade"\noptions = { epochs = 0 }', "study.toml: models[0].options.epochs: must be an int >= 1, got 0"),
    (
        'name = "vade"\noptions = { covariance = ["full", "round"] }',
        "models[0].options.covariance: must be one of 'diag', 'full', got 'round'",
    ),
    ('name = "vade"\noptions = { epochs = [] }', "models[0].options.epochs: must not be an empty list"),
    (
        'name = "vade"\noptions = { random_state = 3 }',
        "models[0].options.random_state: not set in a study file: random_state comes from 'seeds'",
    ),
    ('name = "pca"\noptions = { epochs = 3 }', "models[0].options: unknown key 'epochs': not a parameter of PCA"),
    ('name = "ivae"\noptions = { aux = "u" }', "models[0].options.aux: must be 'c'"),
    ('name = "mfcvae"\noptions = { facets = "2x3" }', "models[0].options.facets: must be m:K pairs"),
    ('name = "vade"\nopts = { epochs = 3 }', "study.toml: unknown key 'models[0].opts' (did you mean 'options'?)"),
]


@pytest.mark.parametrize("data, kind, message", BAD)
def test_bad_data_is_one_line_naming_file_and_key(tmp_path, data, kind, message):
    text = 'name = "bad"\nseeds = 1\n' + models('name = "pca"') + f"\n{data}\n"
    with pytest.raises((InvalidParameterError, DataFileError)) as info:
        study(tmp_path, text)
    assert type(info.value).__name__ == kind
    assert message in str(info.value) and str(tmp_path / "study.toml") in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("table, message", MODEL_BAD)
def test_bad_models_are_one_line_naming_file_and_key(tmp_path, table, message):
    with pytest.raises(InvalidParameterError) as info:
        study(tmp_path, MINI + models(table))
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ('seeds = 1\n[data]\n[[models]]\nname = "pca"', "study.toml: missing key 'name'"),
        ('name = "x"\nseeds = 0\n[data]\n[[models]]\nname = "pca"', "study.toml: seeds: must be an int >= 1"),
        ('name = "x"\nseeds = [1, 1]\n[data]\n[[models]]\nname = "pca"', "study.toml: seeds: lists a seed twice"),
        (  # TOML holds it as an int; before, it was accepted, then failed in every run
            'name = "x"\nseeds = [9223372036854775807]\n[data]\n[[models]]\nname = "pca"',
            "study.toml: seeds: must list seeds of at most 4,611,686,018,427,387,903",
        ),
        ('name = "x"\nseeds = 1\n[data]', "study.toml: missing key 'models'"),
        (
            'name = "x"\nseeds = 1\nmetrics = ["affine_r22"]\n[data]\n[[models]]\nname = "pca"',
            "study.toml: metrics: unknown metric 'affine_r22' (did you mean 'affine_r2'?)",
        ),
        ('name = "x"\nseeds = 1\n[data]\n[[data]]\n', "not valid TOML"),
        ('name = "x"\nseeds = 1\n[data]\n[models]\nname = "pca"', "study.toml: models: must be an array of tables"),
        (
            'name = "x"\nseeds = 1\n[data]\nactivation = "swish"\n[[models]]\nname = "pca"',
            "study.toml: data.activation: Unknown activation 'swish'",
        ),
        (
            'name = "x"\nseeds = 1\n[[data]]\ndepth = 1\n[[data]]\ndepth = 0\n[[models]]\nname = "pca"',
            "study.toml: data[1].depth: must be an int >= 1, got 0",
        ),
        (  # the grid dropped the repeat without a word
            'name = "x"\nseeds = 1\n[data]\ndepth = [2, 2]\n[[models]]\nname = "pca"',
            "study.toml: data.depth: lists 2 twice, got [2, 2]",
        ),
        (
            'name = "x"\nseeds = 1\n[data]\n[[models]]\nname = "vae"\noptions = { epochs = [3, 3] }',
            "study.toml: models[0].options.epochs: lists 3 twice",
        ),
        (  # one value spelled twice: a float option's 0 and 0.0, facets with a space, an activation's spellings
            'name = "x"\nseeds = 1\n[data]\n[[models]]\nname = "fastica"\noptions = { tol = [1, 1.0] }',
            "study.toml: models[0].options.tol: lists 1.0 twice",
        ),
        (
            'name = "x"\nseeds = 1\n[data]\nfacets = ["1:2,1:3", "1:2, 1:3"]\n[[models]]\nname = "pca"',
            "study.toml: data.facets: lists [[1, 2], [1, 3]] twice",
        ),
        (
            'name = "x"\nseeds = 1\n[data]\nactivation = ["leaky-relu", "leaky_relu"]\n[[models]]\nname = "pca"',
            'study.toml: data.activation: lists "leaky-relu" twice',
        ),
        (  # ran (early stopping happened to end it), where `fit --epochs` refuses it
            'name = "x"\nseeds = 1\n[data]\n[[models]]\nname = "vae"\noptions = { epochs = 4611686018427387904 }',
            "study.toml: models[0].options.epochs: holds 4611686018427387904, too large",
        ),
        (
            'name = "x"\nseeds = 1\n[data]\nsamples = 4611686018427387904\n[[models]]\nname = "pca"',
            "study.toml: data.samples: holds 4611686018427387904, too large",
        ),
    ],
)
def test_bad_study_keys(tmp_path, text, message):
    with pytest.raises((InvalidParameterError, DataFileError)) as info:
        study(tmp_path, text)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_unreadable_file(tmp_path):
    with pytest.raises(DataFileError, match="missing.toml: cannot read the study file"):
        load_study(tmp_path / "missing.toml")
    data = tmp_path / "d.npz"  # a data file given as the study: "(UnicodeDecodeError)" was all it said
    np.savez(data, x=np.ones((3, 2)))
    with pytest.raises(DataFileError, match=r"d.npz: not a study file: it is not UTF-8 text .* \.toml file"):
        load_study(data)


def test_a_grid_too_large_to_run_is_refused_before_it_is_built(tmp_path, monkeypatch):
    import latentid.studies.spec as spec_module

    header = '[data]\nlatent_dim = 2\nsamples = 300\n\n[[models]]\nname = "pca"\n'
    with pytest.raises(InvalidParameterError, match=r"seeds: must be at most 10,000 .*got 20,000"):
        study(tmp_path, 'name = "s"\nseeds = 20000\n' + header)  # 1e8 took gigabytes, then hung
    monkeypatch.setattr(spec_module, "MAX_RUNS", 5)
    grid = 'name = "s"\nseeds = 3\n[data]\nlatent_dim = [2, 3]\nsamples = 300\n\n[[models]]\nname = "pca"\n'
    with pytest.raises(InvalidParameterError, match=r"grid.toml: the grid: it holds 6 runs .* more than 5"):
        study(tmp_path, grid, name="grid.toml").expand()


def test_a_blank_study_name_is_refused(tmp_path):
    body = 'seeds = 1\n[data]\nlatent_dim = 2\nsamples = 300\n\n[[models]]\nname = "pca"\n'
    with pytest.raises(InvalidParameterError, match=r"name: must hold a visible character"):
        study(tmp_path, 'name = "   "\n' + body)


def test_labels_name_the_options_a_runs_own_model_varies(tmp_path):
    # Before: two fastica tables (tol 1e-5 and 1e-1) gave identical labels, and a model that never set lr was
    # labelled with its default lr, gmm with lr=None, because another model's table varied lr.
    path = tmp_path / "study.toml"
    path.write_text(
        'name = "labels"\nseeds = 1\n[data]\ncomponents = 3\nsamples = 200\n'
        '[[models]]\nname = "fastica"\noptions = { tol = 1e-5 }\n'
        '[[models]]\nname = "fastica"\noptions = { tol = 1e-1 }\n'
        '[[models]]\nname = "vade"\noptions = { lr = [0.001, 0.01] }\n'
        '[[models]]\nname = "gmm"\n'
    )
    study = load_study(path)
    labels = [config.label() for config in study.expand()]
    assert len(set(labels)) == len(labels) == 5, labels
    assert [label.split()[-2] for label in labels if label.startswith("fastica")] == ["tol=1e-05", "tol=0.1"]
    assert not any("lr=" in label or "tol=" in label for label in labels if label.startswith("gmm"))
    assert study.axes() == {"options.tol": [1e-05, 0.1], "options.lr": [0.001, 0.01]}


def test_data_seed_draws_the_real_data_subsample_and_is_refused_where_it_draws_nothing(
    tmp_path, shared_data, monkeypatch
):
    """data_seed was ignored on MNIST: three data seeds gave three byte-identical fits, reported as replicates
    with a spread of 0."""
    from latentid.studies.run_one import _data

    monkeypatch.setenv("LATENTID_DATA", str(shared_data))
    text = 'name = "m"\nseeds = 1\n[data]\ndataset = "mnist"\nn_train = 100\nn_test = 100\ndata_seed = [0, 1]\n'
    runs = study(tmp_path, text + models('name = "pca"')).expand()
    (train0, test0, *_), (train1, test1, *_) = (_data(run) for run in runs)
    assert not np.array_equal(train0.x, train1.x) and not np.array_equal(test0.x, test1.x)
    whole = 'name = "m"\nseeds = 1\n[data]\ndataset = "mnist"\ndata_seed = [0, 1]\n' + models('name = "pca"')
    with pytest.raises(InvalidParameterError, match="data_seed 1 draws nothing here"):
        study(tmp_path, whole, "whole.toml")


def test_the_grid_is_counted_from_its_axes_before_any_point_is_built(tmp_path, monkeypatch):
    """10^8 data points were resolved one by one (gigabytes, then a MemoryError traceback) before the count; a
    list of 20,000 seeds passed the 10,000-seed limit that seeds = 20000 met."""
    import latentid.studies.spec as spec_module

    def built(*args):
        raise AssertionError("a data point was built before the grid was counted")

    monkeypatch.setattr(spec_module, "_resolve_data", built)
    samples, noise, depth = (
        ", ".join(str(v) for v in values)
        for values in (range(100, 1100), [0.01 * (i + 1) for i in range(1000)], range(1, 101))
    )
    axes = f"samples = [{samples}]\nnoise = [{noise}]\ndepth = [{depth}]\n"
    huge = 'name = "s"\nseeds = 1\n[data]\n' + axes + models('name = "pca"')
    with pytest.raises(InvalidParameterError, match=r"the grid: it holds 100,000,000 runs \(100,000,000 data points"):
        study(tmp_path, huge).expand()
    seeds = ", ".join(str(i) for i in range(20_000))
    with pytest.raises(InvalidParameterError, match=r"seeds: must list at most 10,000 seeds .*got 20,000"):
        study(tmp_path, f'name = "s"\nseeds = [{seeds}]\n[data]\nsamples = 300\n' + models('name = "pca"'))


def test_settings_that_change_nothing_are_one_run_not_several(tmp_path):
    """slope with tanh, hidden_width at depth 1, refine_steps without refined inference, the noise scale of a
    Bernoulli likelihood and the ELBO estimator of an importance-weighted bound: each axis ran as separate runs of
    byte-identical results, drawn in the report as an axis with flat lines."""
    cases = [
        ('activation = "tanh"\nslope = [0.1, 0.2]\n', 'name = "pca"'),
        ("depth = 1\nhidden_width = [5, 9]\n", 'name = "pca"'),
        ("", 'name = "vae"\noptions = { refine_steps = [1, 7] }'),
        ("", 'name = "vae"\noptions = { likelihood = "bernoulli", noise_scale = [0.1, 0.5] }'),
        ("", 'name = "vade"\noptions = { iw_samples = 3, elbo = ["mean_field", "vade"] }'),
    ]
    for data, model in cases:
        runs = study(tmp_path, f'name = "s"\nseeds = 1\n[data]\nsamples = 300\n{data}' + models(model)).expand()
        assert len(runs) == 1, (data, model)
    # where the other setting makes them count, they still do
    live = 'name = "s"\nseeds = 1\n[data]\nsamples = 300\nactivation = ["tanh", "leaky-relu"]\nslope = [0.1, 0.2]\n'
    assert len(study(tmp_path, live + models('name = "pca"')).expand()) == 3
    refined = models('name = "vae"\noptions = { inference = "refined", refine_steps = [1, 7] }')
    assert len(study(tmp_path, 'name = "s"\nseeds = 1\n[data]\nsamples = 300\n' + refined).expand()) == 2


def test_real_data_sizes_too_small_to_score_and_control_characters_in_names_are_refused(tmp_path):
    real = 'name = "m"\nseeds = 1\n[data]\ndataset = "mnist"\nn_train = 20\nn_test = [1, 20]\n' + models('name = "pca"')
    with pytest.raises(InvalidParameterError, match=r"n_test must be >= 20 .*got 1"):
        study(tmp_path, real).expand()  # every such run failed, after the plan, with exit code 1
    body = "seeds = 1\n[data]\nsamples = 300\n" + models('name = "pca"')
    with pytest.raises(InvalidParameterError, match=r"name: must not hold control characters"):
        study(tmp_path, 'name = "evil\\u001b[31mRED"\n' + body)
    # U+202E shows "safe.exe" reversed as spoofed text in the terminal and the report; a 50 MB name was echoed whole
    with pytest.raises(
        InvalidParameterError,
        match=r"name: must not hold bidirectional override or isolate characters \(U\+202E at character 5\)",
    ):
        study(tmp_path, 'name = "safe\\u202eexe.txt"\n' + body)
    with pytest.raises(
        InvalidParameterError, match=r"must not hold control characters.*\(100,001 characters\)"
    ) as info:
        study(tmp_path, f'name = "\\u001b{"n" * 100_000}"\n' + body)
    assert len(str(info.value)) < 500
    assert study(
        tmp_path, 'name = "lab \\U0001f469\\u200d\\U0001f52c study"\n' + body
    ).name  # an emoji's joiner is fine


def test_a_sample_count_too_small_to_score_is_refused_at_the_plan(tmp_path):
    """samples = 4 passed the plan, then every run failed on 'split=0.5 leaves 2 fit and 2 held-out samples',
    a split the file never set."""
    with pytest.raises(InvalidParameterError, match=r"data.samples: must be an int >= 8"):
        study(tmp_path, 'name = "s"\nseeds = 1\n[data]\nsamples = 4\n' + models('name = "gmm"'))


def test_a_misspelt_required_key_and_a_list_of_data_sets_are_named_as_such(tmp_path):
    """'seed = 1' gave only "missing key 'seeds'", and dataset = ["mnist", "fashion-mnist"] "must be one of
    'synthetic', ...", where every other list is an axis."""
    body = "[data]\nsamples = 300\n" + models('name = "pca"')
    with pytest.raises(InvalidParameterError, match=r"missing key 'seeds' \(the file has 'seed': a misspelling\?\)"):
        study(tmp_path, 'name = "s"\nseed = 1\n' + body)
    real = 'name = "s"\nseeds = 1\n[data]\ndataset = ["mnist", "fashion-mnist"]\n' + models('name = "pca"')
    with pytest.raises(InvalidParameterError, match=r"data.dataset: not an axis: one data set per \[\[data\]\] table"):
        study(tmp_path, real)


def test_mfcvae_facets_written_as_pairs_are_one_value(tmp_path):
    """facets = [[1, 2], [1, 2]] was read as an axis of two values, each refused as 'not a list of pairs'."""
    body = 'name = "s"\nseeds = 1\n[data]\nsamples = 300\nlatent_dim = 2\n'
    pairs = study(tmp_path, body + models('name = "mfcvae"\noptions = { facets = [[1, 2], [1, 3]] }')).expand()
    text = study(tmp_path, body + models('name = "mfcvae"\noptions = { facets = "1:2,1:3" }')).expand()
    assert len(pairs) == 1 and pairs[0].options["facets"] == [[1, 2], [1, 3]]
    assert [run.key for run in pairs] == [run.key for run in text]
