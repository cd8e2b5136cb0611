"""`latentid experiment run`: sizes and paths checked before anything runs, a Ctrl-C that says how to
continue, a run that runs out of memory recorded in words, and counts in the singular."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from latentid.cli import app
from latentid.errors import InvalidParameterError
from latentid.studies import executors
from latentid.studies.run_one import run_one
from latentid.studies.spec import load_study

runner = CliRunner()

STUDY = """
name = "s"
seeds = {seeds}
metrics = ["affine_r2"]
[data]
latent_dim = 2
obs_dim = 6
components = 3
samples = {samples}
[[models]]
name = "pca"
"""


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def study(tmp_path, seeds=1, samples=200):
    path = tmp_path / "s.toml"
    path.write_text(STUDY.format(seeds=seeds, samples=samples))
    return path


def one_line_error(result, *words):
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error:") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.stderr, result.stderr


def test_samples_beyond_this_machines_memory_are_refused_before_anything_runs(tmp_path):
    store = tmp_path / "r.db"
    result = run("experiment", "run", study(tmp_path, samples=10**11), "--store", store)
    one_line_error(result, "s.toml: data.samples", "100,000,000,000 samples", "not enough memory", "fewer samples")
    assert not store.exists()


def test_an_observed_dimension_beyond_memory_is_named_as_the_cause(tmp_path):
    path = tmp_path / "wide.toml"
    path.write_text(STUDY.format(seeds=1, samples=600).replace("obs_dim = 6", "obs_dim = 10000000000"))
    result = run("experiment", "run", path, "--store", tmp_path / "r.db")
    one_line_error(result, "wide.toml: data.obs_dim:", "or a smaller obs_dim")


def test_check_memory_names_the_data_table(tmp_path):
    path = tmp_path / "two.toml"
    text = STUDY.format(seeds=1, samples=100).replace("[data]", "[[data]]")
    path.write_text(text.replace("[[models]]", "[[data]]\nobs_dim = 6\nsamples = 1000\n[[models]]"))
    loaded = load_study(path)
    loaded.check_memory(limit=1000 * 8 * 8)  # 1,000 samples of 2 + 6 float64 values fit
    with pytest.raises(InvalidParameterError, match=r"two.toml: data\[1\].samples: 1,000 samples .* not enough memory"):
        loaded.check_memory(limit=100 * 8 * 8)


def test_a_run_out_of_memory_is_recorded_in_words(tmp_path, monkeypatch):
    def too_large(*args, **kwargs):
        raise MemoryError("Unable to allocate 745. GiB for an array with shape (100000000000, 1)")

    monkeypatch.setattr("latentid.studies.run_one.make_model", too_large)
    (config,) = load_study(study(tmp_path)).expand()
    row = run_one(config.to_json())
    assert row["status"] == "failed"
    assert row["error"].startswith("not enough memory for this run; ask for fewer samples or a smaller model")
    assert "745. GiB" in row["error"] and "run_one.py" not in row["error"]


@pytest.mark.parametrize("where", ["file", "under-a-file"])
def test_artifacts_that_is_a_file_is_refused_before_the_first_fit(tmp_path, where):
    afile = tmp_path / "afile"
    afile.write_text("mine")
    artifacts = afile if where == "file" else afile / "sub"
    store = tmp_path / "r.db"
    result = run("experiment", "run", study(tmp_path), "--store", store, "--artifacts", artifacts)
    one_line_error(result, str(artifacts), "not a folder", "--artifacts")
    assert not store.exists() and afile.read_text() == "mine"


def test_one_run_is_counted_in_the_singular(tmp_path):
    store = tmp_path / "r.db"
    assert run("experiment", "run", study(tmp_path), "--store", store, "--quiet").exit_code == 0
    again = run("experiment", "run", study(tmp_path), "--store", store, "--quiet")
    assert again.exit_code == 0, again.output
    assert "1 was already done" in again.stdout and "1 of 1 run already in" in again.stderr


def test_ctrl_c_says_what_is_stored_and_how_to_continue(tmp_path, monkeypatch):
    class Interrupted(executors.LocalExecutor):
        def map(self, configs):  # the first run finishes, then Ctrl-C
            for i, config in enumerate(configs):
                if i == 1:
                    raise KeyboardInterrupt
                yield run_one(config)

    monkeypatch.setattr(executors, "make_executor", lambda *args: Interrupted())
    store = tmp_path / "r.db"
    result = run("experiment", "run", study(tmp_path, seeds=3), "--store", store, "--quiet")
    assert result.exit_code == 130, result.output
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("interrupted: 1 of 3 runs of study 's' are in") and str(store) in last
    assert "run the same command again to continue" in last and "Traceback" not in result.output
    monkeypatch.undo()
    resumed = run("experiment", "run", study(tmp_path, seeds=3), "--store", store, "--quiet")
    assert resumed.exit_code == 0 and "2 finished" in resumed.stdout and "1 was already done" in resumed.stdout


def test_a_fits_warning_is_said_under_its_runs_line_and_named_by_it(tmp_path, monkeypatch):
    from latentid.models import PCA

    real_fit = PCA.fit

    def fit_that_warns(self, X, y=None, u=None):
        import warnings

        warnings.warn("PCA left latent dimension(s) 1 (0.10) inactive", UserWarning, stacklevel=2)
        return real_fit(self, X)

    monkeypatch.setattr(PCA, "fit", fit_that_warns)
    result = run("experiment", "run", study(tmp_path, seeds=2), "--store", tmp_path / "r.db")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    for seed in (0, 1):
        (at,) = [i for i, line in enumerate(lines) if line.startswith("✓") and f"seed={seed}" in line]
        assert lines[at + 1].startswith("note: ") and f"seed={seed}: PCA left latent dimension(s) 1" in lines[at + 1]


def test_a_runs_warnings_are_stored_and_shown_by_results_and_report(tmp_path, monkeypatch):
    from latentid.models import PCA
    from latentid.studies.store import ResultStore

    real_fit = PCA.fit

    def fit_that_warns(self, X, y=None, u=None):
        import warnings

        warnings.warn("PCA left latent dimension(s) 1 (0.10) inactive", UserWarning, stacklevel=2)
        if self.random_state == 1:
            raise FloatingPointError("diverged")  # a failed fit keeps what it warned of
        return real_fit(self, X)

    monkeypatch.setattr(PCA, "fit", fit_that_warns)
    store = tmp_path / "r.db"
    assert (
        run("experiment", "run", study(tmp_path, seeds=2), "--store", store, "--quiet").exit_code == 1
    )  # one run failed
    with ResultStore(store) as opened:
        rows = {row["config"]["seed"]: row for row in opened.rows()}
    assert rows[0]["status"] == "finished" and rows[1]["status"] == "failed"
    assert rows[0]["warnings"] == rows[1]["warnings"] == ["PCA left latent dimension(s) 1 (0.10) inactive"]

    listed = run("results", store)
    assert listed.exit_code == 0, listed.output
    notes = [line for line in listed.stdout.splitlines() if line.startswith("note: ")]
    assert len(notes) == 2 and all("PCA left latent dimension(s) 1 (0.10) inactive" in n for n in notes)
    # each note names its run by key too: two runs can share a label
    assert {n.split("(")[1].split(")")[0] for n in notes} == {str(row["key"])[:10] for row in rows.values()}
    as_csv = run("results", store, "--format", "csv").stdout.splitlines()
    assert as_csv[0].endswith(",warnings") and all(line.endswith("inactive") for line in as_csv[1:])

    assert run("report", store, "--out", tmp_path / "report").exit_code == 0
    page = (tmp_path / "report" / "index.html").read_text()
    assert "Runs with warnings (2)" in page and "PCA left latent dimension(s) 1 (0.10) inactive" in page


def test_a_study_name_reused_with_another_grid_is_noted(tmp_path):
    store = tmp_path / "r.db"
    assert run("experiment", "run", study(tmp_path, seeds=1), "--store", store, "--quiet").exit_code == 0
    again = run("experiment", "run", study(tmp_path, seeds=1), "--store", store, "--quiet")
    assert again.exit_code == 0 and "does not declare" not in again.stderr  # the same grid: nothing to say
    changed = run("experiment", "run", study(tmp_path, seeds=1, samples=250), "--store", store, "--quiet")
    assert changed.exit_code == 0
    said = " ".join(changed.stderr.split())
    assert "also holds 1 run of study 's' that" in said, said
    assert "only in data.samples (200 in the store, 250 now); an earlier version of the file?" in said, said


def test_runs_set_apart_by_a_changed_default_are_named_as_such(tmp_path, monkeypatch):
    """A rerun after latentid changed a default refits: the note names the setting, not an edit of the file."""
    from latentid.runs import MODELS

    store = tmp_path / "r.db"
    assert run("experiment", "run", study(tmp_path, seeds=1), "--store", store, "--quiet").exit_code == 0
    init = MODELS["pca"].__init__  # a later version of latentid, whose PCA no longer whitens by default
    monkeypatch.setattr(init, "__kwdefaults__", {**init.__kwdefaults__, "whiten": False})
    again = run("experiment", "run", study(tmp_path, seeds=1), "--store", store, "--quiet")
    assert again.exit_code == 0, again.output
    said = " ".join(again.stderr.split())
    assert "differ from this file's runs only in options.whiten (True in the store, False now)" in said, said
    assert "a default changed since they ran" in said and "earlier version of the file" not in said, said

    edited = tmp_path / "s.toml"  # the same setting, now written in the file: an edit, not a default
    edited.write_text(STUDY.format(seeds=1, samples=200) + "options.whiten = false\n")
    monkeypatch.undo()
    noted = " ".join(run("experiment", "run", edited, "--store", store, "--quiet").stderr.split())
    assert "an earlier version of the file?" in noted and "options.whiten (True in the store, False now)" in noted
    assert "default changed" not in noted, noted


def test_a_real_data_study_without_the_files_is_refused_once_before_any_run(tmp_path, monkeypatch):
    """Every run failed on its own, naming a --data-dir that `experiment run` does not have."""
    monkeypatch.setenv("LATENTID_DATA", str(tmp_path / "nowhere"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = tmp_path / "m.toml"
    path.write_text('name = "m"\nseeds = 2\n[data]\ndataset = "mnist"\nn_train = 100\n[[models]]\nname = "pca"\n')
    result = run("experiment", "run", path, "--store", tmp_path / "r.db", "--quiet")
    assert result.exit_code == 2 and result.stderr.startswith("error: MNIST not found"), result.output
    assert "point $LATENTID_DATA" in result.stderr and "--data-dir" not in result.stderr
    assert not (tmp_path / "r.db").exists()


def test_results_print_a_sentence_many_runs_share_once(tmp_path):
    """2,000 pca runs printed the same 'not measured: cluster_acc ...' sentence 2,000 times under the table."""
    path = tmp_path / "s.toml"
    path.write_text(STUDY.format(seeds=6, samples=200).replace('metrics = ["affine_r2"]', 'metrics = ["cluster_acc"]'))
    store = tmp_path / "r.db"
    assert run("experiment", "run", path, "--store", store, "--quiet").exit_code == 0
    listed = run("results", store)
    below = [line for line in " ".join(listed.stdout.split("\n")).split("finished: ")[1:]]
    assert len(below) == 1, listed.stdout
    assert " ".join(below[0].split()).startswith("6 runs (pca "), below[0]
    assert "; and 3 more): not measured: cluster_acc" in " ".join(below[0].split()), below[0]
    table = listed.stdout.split("finished: ")[0]
    assert " note " in table and " yes " not in table  # no failure: its cell does not read as one
