import json

import numpy as np
import pytest
from typer.testing import CliRunner

from latentid.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_simulate_then_explain(tmp_path):
    out = tmp_path / "d.npz"
    result = run("simulate", "--samples", 500, "--depth", 3, "--seed", 1, "--out", out)
    assert result.exit_code == 0, result.output
    with np.load(out) as f:
        assert f["x"].shape == (500, 10) and f["z"].shape == (500, 2) and f["c"].dtype == np.int64
        assert json.loads(str(f["spec_json"]))["depth"] == 3
    result = run("explain", "--data", out, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert (payload["level"], payload["level_name"]) == (2, "2")
    names = [c["name"] for c in payload["checks"]]
    assert "noise leaves every direction recoverable" in names
    table = run("explain", "--data", out)
    assert table.exit_code == 0 and "Level 2" in table.stdout


def test_explain_from_flags_outside_theory():
    result = run("explain", "--activation", "tanh", "--json")
    assert result.exit_code == 0
    payload = json.loads(result.stdout)
    assert (payload["level"], payload["level_name"], payload["in_theory"]) == (None, "none", False)


@pytest.mark.parametrize(
    "args",
    [
        ["--obs-dim", 1, "--latent-dim", 2],
        ["--components", 0],
        ["--noise", -1],
        ["--slope", 0],
        ["--samples", 0],
    ],
)
def test_simulate_bad_input_is_one_line_exit_2(tmp_path, args):
    out = tmp_path / "d.npz"
    result = run("simulate", "--out", out, *args)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error:")
    assert "Traceback" not in result.output
    assert not out.exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize("content", [None, b"garbage", "nan"])
def test_explain_bad_file_exit_2(tmp_path, content):
    path = tmp_path / "d.npz"
    if content == "nan":
        np.savez(path, x=np.array([[np.nan, 1.0], [1.0, 2.0]]))
    elif content is not None:
        path.write_bytes(content)
    result = run("explain", "--data", path)
    assert result.exit_code == 2
    assert result.stderr.startswith("error:") and result.stderr.count("\n") == 1


def test_explain_plain_data_file_says_it_has_no_generator(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, np.ones((4, 3)))
    result = run("explain", "--data", path)
    assert result.exit_code == 2 and "latentid simulate" in result.stderr
    assert "explain --run RUN" in result.stderr and "by its flags" in result.stderr  # the ways in for own data


def test_simulate_with_facets_then_explain(tmp_path):
    out = tmp_path / "f.npz"
    result = run("simulate", "--samples", 400, "--depth", 3, "--facets", "2:3,2:4", "--out", out)
    assert result.exit_code == 0, result.output
    assert "2 facets" in result.stdout and "2:3, 2:4" in result.stdout and "12 joint components" in result.stdout
    with np.load(out) as f:
        assert f["z"].shape == (400, 4) and f["c"].shape == (400, 2) and f["c"].dtype == np.int64
        assert f["c"][:, 0].max() <= 2 and f["c"][:, 1].max() <= 3
        assert json.loads(str(f["spec_json"]))["facets"] == [[2, 3], [2, 4]]
    payload = json.loads(run("explain", "--data", out, "--json").stdout)
    assert payload["level"] == 2
    assert {c["name"]: c["passed"] for c in payload["checks"]}["prior is the product of the facets' mixtures"]
    figures = {c["name"]: c["figures"] for c in payload["checks"]}["prior is the product of the facets' mixtures"]
    assert (figures["facet_dims"], figures["facet_components"], figures["components"]) == ([2, 2], [3, 4], 12)
    assert figures["max_departure"] <= 1e-6
    notes = " ".join(payload["notes"])
    assert "Facets (MFC-VAE)" in notes and "12 components" in notes and "block-diagonal" in notes
    assert "Level 3 does not apply to the joint mixture: its covariances are not diagonal" in notes
    table = run("explain", "--data", out)
    assert table.exit_code == 0 and "Level 2" in table.stdout and "Facets (MFC-VAE)" in table.stdout


@pytest.mark.parametrize(
    ("facets", "level", "says"),
    [
        ("2:5,1:3", 3, "Level 3 holds for the joint mixture"),
        ("2:3,2:4", 2, "do not vary enough"),  # 2:3 has too few components for its 2 dimensions
    ],
)
def test_explain_facets_from_flags(facets, level, says):
    result = run("explain", "--facets", facets, "--covariance", "diag", "--depth", 3, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["level"] == level and says in " ".join(payload["notes"])


def test_facets_of_one_component_each_are_one_gaussian_not_a_mixture():
    """Level 'vanilla' came with a note that the mixture levels 1-2 apply to the product, a contradiction."""
    payload = json.loads(run("explain", "--facets", "2:1,2:1", "--depth", 3, "--json").stdout)
    notes = " ".join(payload["notes"])
    assert payload["level_name"] == "vanilla" and "a single Gaussian, not a mixture" in notes
    assert "levels 1-2" not in notes


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--facets", "2:3,x"], ["--facets", "latent_dim:components"]),
        (["--facets", "0:3"], ["--facets", "latent_dim:components"]),
        (["--facets", "2:0"], ["--facets", "latent_dim:components"]),
        (["--facets", ""], ["--facets", "latent_dim:components"]),
        (["--facets", "2:3", "--components", 3], ["--components", "--facets"]),
        (["--facets", "2:3", "--prior", "standard-normal"], ["--prior standard-normal", "--facets"]),
        (["--facets", "2:3,1:2", "--latent-dim", 2], ["--latent-dim (2)", "--facets (3)"]),
    ],
)
@pytest.mark.parametrize("command", ["simulate", "explain"])
def test_bad_facets_are_one_line_exit_2(tmp_path, command, args, names):
    out = tmp_path / "d.npz"
    result = run(command, *(["--out", out] if command == "simulate" else []), *args)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error:")
    assert all(name in result.stderr for name in names), result.stderr
    assert "Traceback" not in result.output
    assert not list(tmp_path.iterdir())


def test_simulate_refuses_a_slope_for_an_activation_without_one(tmp_path):
    """A ReLU or tanh f ignores --slope, so a run that records one would misdescribe its data."""
    out = tmp_path / "d.npz"
    result = CliRunner().invoke(app, ["simulate", "--activation", "relu", "--slope", "0.3", "--out", str(out)])
    assert result.exit_code == 2 and not out.exists()
    assert "--slope does not apply to --activation relu" in result.stderr
    result = CliRunner().invoke(app, ["simulate", "--slope", "0.3", "--samples", "20", "--out", str(out)])
    assert result.exit_code == 0, result.output


def test_explain_refuses_a_slope_for_an_activation_without_one_as_simulate_does():
    """`explain --activation relu --slope 0.3` used to judge the setting (level 1) that simulate refuses."""
    refused = run("explain", "--activation", "relu", "--slope", "0.3")
    assert refused.exit_code == 2 and "--slope does not apply to --activation relu" in refused.stderr
    assert refused.stderr.count("\n") == 1
    assert run("explain", "--activation", "leaky_relu", "--slope", "0.3").exit_code == 0


@pytest.mark.parametrize("command", [("simulate", "--samples", "20"), ("explain",)])
def test_a_hidden_width_for_a_linear_f_is_refused(tmp_path, command):
    """--depth 1 --hidden-width 5 was accepted and the width ignored, while --slope with relu is refused."""
    out = ("--out", str(tmp_path / "d.npz")) if command[0] == "simulate" else ()
    refused = run(*command, "--depth", "1", "--hidden-width", "5", *out)
    assert refused.exit_code == 2 and "--hidden-width does not apply to --depth 1" in refused.stderr
    assert not (tmp_path / "d.npz").exists()
    assert run(*command, "--depth", "2", "--hidden-width", "5", *out).exit_code == 0


@pytest.mark.parametrize("command", [("simulate", "--samples", "20"), ("explain",)])
def test_a_depth_past_the_layer_bound_is_refused_at_once(tmp_path, command):
    """--depth 100000 drew layers for minutes with nothing shown."""
    out = ("--out", str(tmp_path / "d.npz")) if command[0] == "simulate" else ()
    refused = run(*command, "--depth", "100000", *out)
    assert refused.exit_code == 2 and "--depth: must be <= 1001 (got 100000)" in refused.stderr
