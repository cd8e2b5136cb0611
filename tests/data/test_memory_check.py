"""The simulator refuses a request larger than the memory available in one line, before allocating it (on Linux
the kernel would otherwise kill the process later, with no message)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from latentid import _memory
from latentid.cli import app
from latentid.data.synthetic import SyntheticSpec
from latentid.errors import InvalidParameterError

MIB = 2**20


@pytest.fixture
def ten_mib_free(monkeypatch):
    monkeypatch.setattr(_memory, "available_bytes", lambda: 10 * MIB)


def test_drawing_more_samples_than_fit_is_refused_before_allocating(ten_mib_free):
    generator = SyntheticSpec.create(seed=0).build()
    with pytest.raises(
        InvalidParameterError, match=r"Drawing 1,000,000 samples needs about .* about 0\.0 GiB is available"
    ):
        generator.sample(1_000_000)
    assert generator.sample(1_000).x.shape == (1_000, 10)


def test_a_generator_too_large_to_build_is_refused_naming_its_size(ten_mib_free):
    with pytest.raises(InvalidParameterError, match=r"layer widths 2-2,000-...-2,000 \(6 layers\).*Lower obs_dim"):
        SyntheticSpec.create(obs_dim=2000, seed=0).build()
    with pytest.raises(InvalidParameterError, match="A generator of 9,000 components"):
        SyntheticSpec.create(latent_dim=10, components=9_000, seed=0).build()
    assert SyntheticSpec.create(obs_dim=100, seed=0).build().spec.obs_dim == 100


def test_the_command_line_refuses_in_one_line_and_writes_nothing(ten_mib_free, tmp_path):
    result = CliRunner().invoke(app, ["simulate", "--samples", "1000000", "--out", str(tmp_path / "d.npz")])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: Drawing 1,000,000 samples needs about") and result.output.count("\n") == 1
    assert "Ask for fewer samples" in result.output
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"/proc/meminfo": 10 * MIB}, 10 * MIB),  # no cgroup files: the machine's
        ({"/proc/meminfo": 10 * MIB, "memory.max": 6 * MIB, "memory.current": 2 * MIB}, 4 * MIB),  # a container's
        ({"/proc/meminfo": 3 * MIB, "memory.max": 6 * MIB, "memory.current": 2 * MIB}, 3 * MIB),
        ({}, None),  # nothing readable: no check
    ],
)
def test_available_memory_is_the_tighter_of_the_machine_and_its_container(monkeypatch, files, expected):
    def read(path, key=None):
        return next((value for name, value in files.items() if path.endswith(name)), None)

    monkeypatch.setattr(_memory, "_read_int", read)
    assert _memory.available_bytes() == expected


def test_meminfo_is_read_in_kilobytes(tmp_path):
    (tmp_path / "meminfo").write_text("MemTotal:  2048 kB\nMemAvailable:    1024 kB\n")
    assert _memory._read_int(str(tmp_path / "meminfo"), "MemAvailable:") == 1024 * 1024
    (tmp_path / "max").write_text("max\n")  # a cgroup without a limit
    assert _memory._read_int(str(tmp_path / "max")) is None


def test_more_components_than_the_simulator_draws_among_is_refused_at_once():
    with pytest.raises(InvalidParameterError, match=r"components \(100000000\) is more than 10,000"):
        SyntheticSpec.create(components=100_000_000)
    assert SyntheticSpec.create(components=10_000).components == 10_000


def test_an_address_space_limit_counts_too(monkeypatch):
    """Under `ulimit -v` the checks passed, and a large request failed late as a MemoryError."""
    import resource

    files = {"/proc/meminfo": 100 * MIB, "/proc/self/status": 30 * MIB}
    monkeypatch.setattr(_memory, "_read_int", lambda path, key=None: files.get(path))
    monkeypatch.setattr(resource, "getrlimit", lambda which: (50 * MIB, resource.RLIM_INFINITY))
    assert _memory.available_bytes() == 20 * MIB  # the limit less the address space the process holds
    monkeypatch.setattr(resource, "getrlimit", lambda which: (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    assert _memory.available_bytes() == 100 * MIB
