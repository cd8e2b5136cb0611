"""The Ray executor's network: a local Ray on loopback alone, and an --address that does not answer refused fast."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from latentid.studies.executors import RayExecutor

ray = pytest.importorskip("ray")


def _listening_addresses(pids: set[int]) -> set[str]:
    """The local addresses that the processes ``pids`` listen on (TCP, from /proc; Linux only)."""
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                target = fd.readlink().as_posix()
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # state 0A: LISTEN
                raw = bytes.fromhex(fields[1].split(":")[0])
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, width // 2, 4))  # little-endian words
                found.add(str(ipaddress.ip_address(words)))
    return found


def _is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return ip.is_loopback or (ip.version == 6 and ip.ipv4_mapped is not None and ip.ipv4_mapped.is_loopback)


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc")
def test_a_local_ray_listens_on_loopback_alone():
    # Before: ray.init(_node_ip_address="127.0.0.1") became the machine's address, and the GCS and raylet
    # listened on every interface (Ray 2.60), with no authentication.
    if ray.is_initialized():
        pytest.skip("a Ray started elsewhere in this process")
    executor = RayExecutor(jobs=1)
    try:
        assert {node["NodeManagerAddress"] for node in ray.nodes()} == {"127.0.0.1"}
        pids = {int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()}
        ours = set()
        for pid in pids:
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"gcs_server" in command or b"raylet" in command:
                ours.add(pid)
        deadline = time.monotonic() + 30
        while not _listening_addresses(ours) and time.monotonic() < deadline:
            time.sleep(0.2)
        addresses = _listening_addresses(ours)
        assert addresses and all(_is_loopback(a) for a in addresses), addresses
    finally:
        executor.close()
    from ray._private import ray_constants

    assert ray_constants.ENABLE_RAY_CLUSTER  # restored for a later ray.init that joins a cluster


def test_an_address_where_nothing_answers_is_refused_at_once(tmp_path):
    # Before: Ray retried 127.0.0.1:1 (rewritten to the machine's address) for minutes, printing warnings.
    study = tmp_path / "s.toml"
    study.write_text('name = "s"\nseeds = 1\n[data]\nsamples = 100\n[[models]]\nname = "pca"\n')
    code = "import sys; from latentid.cli import main; sys.argv[0] = 'latentid'; sys.exit(main())"
    args = ["experiment", "run", str(study), "--store", str(tmp_path / "s.db"), "--executor", "ray"]
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, *args, "--address", "127.0.0.1:1"], env=env, capture_output=True, timeout=90
        )
    except subprocess.TimeoutExpired:
        pytest.fail("experiment run --address 127.0.0.1:1 still waited after 90 s")
    assert done.returncode == 2, done.stderr.decode()
    assert done.stderr.decode().startswith("error: could not reach the Ray cluster at 127.0.0.1:1 (")
