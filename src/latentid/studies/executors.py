"""Where a study's runs execute: in this process, in a pool of local processes, or as Ray tasks.

Every executor takes run configs as JSON and yields each run's row (``run_one``'s result) as soon as it is
done, in completion order; rows come back to the driver, which alone writes the store.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context

from latentid._warnings import show_warnings_on_one_line
from latentid.errors import InvalidParameterError
from latentid.studies.run_one import crashed_row, run_one

EXECUTORS = ("local", "ray")
WORKER_DIED = (
    "its worker process died under it (killed by the system, most often for memory, or crashed in native code); "
    "rerun the study to retry it, with fewer --jobs or a smaller setting"
)


PARENT_POLL_SECONDS = 1.0  # how often a pool worker checks that the driver that started it is alive


def _exit_when_orphaned(driver_pid: int) -> None:
    """Poll the parent process id; once it is no longer ``driver_pid`` (the driver died, even by SIGKILL,
    and the worker was re-parented), end this worker at once: no one is left to collect its run."""
    while os.getppid() == driver_pid:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)


def _pool_worker(driver_pid: int) -> None:
    """Initialiser of pool workers: one torch thread each, so that N workers use N cores, and a daemon thread
    that ends the worker when its driver is gone (a killed driver would otherwise leave idle workers behind
    for ever). SIGINT stays ignored, as inherited (``_workers_ignore_sigint``): the driver handles Ctrl-C."""
    threading.Thread(target=_exit_when_orphaned, args=(driver_pid,), daemon=True).start()
    show_warnings_on_one_line()  # as the driver shows its own
    import torch

    torch.set_num_threads(1)


@contextlib.contextmanager
def _workers_ignore_sigint() -> Iterator[None]:
    """Ignore SIGINT in this process while the pool spawns its workers, which inherit that disposition: a
    Ctrl-C in the terminal reaches the whole process group, and workers still importing would each print a
    KeyboardInterrupt traceback. The driver stops them itself (``_stop_workers``). A no-op off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Terminate the pool's workers: an interrupted study does not wait for the fits they are running."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()


class LocalExecutor:
    """``jobs`` = 1: runs one after another in this process (all torch threads); more: a process pool
    (spawned, one torch thread per worker), at most ``jobs`` runs at a time."""

    def __init__(self, jobs: int = 1):
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
            raise InvalidParameterError(f"--jobs must be an int >= 1. Got {jobs!r} instead.")
        self.jobs = jobs

    def map(self, configs: Iterable[str]) -> Iterator[dict]:
        queue = collections.deque(configs)
        if self.jobs == 1:
            while queue:
                yield run_one(queue.popleft())
            return
        suspects: collections.deque[str] = collections.deque()  # in flight when a worker died
        while queue or suspects:
            if suspects:  # rerun each alone: the one that kills its worker again is the one recorded as failed
                yield from self._in_pool(collections.deque([suspects.popleft()]), 1, None)
            else:
                yield from self._in_pool(queue, self.jobs, suspects)

    def _in_pool(self, queue: collections.deque, jobs: int, suspects: collections.deque | None) -> Iterator[dict]:
        """Run the configs of ``queue`` (consumed) in a new pool of ``jobs`` workers, at most ``jobs`` at a time.
        When a worker dies, the runs in flight go to ``suspects`` and this pool ends; with ``suspects`` None (a
        run alone) the run is recorded as failed instead."""
        pool = ProcessPoolExecutor(
            jobs, mp_context=get_context("spawn"), initializer=_pool_worker, initargs=(os.getpid(),)
        )
        in_flight: dict = {}
        try:
            while queue or in_flight:
                while queue and len(in_flight) < jobs:
                    config = queue.popleft()
                    with _workers_ignore_sigint():  # workers are spawned as runs are submitted
                        in_flight[pool.submit(run_one, config, 1)] = config
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                broken = False
                for future in done:
                    config = in_flight.pop(future)
                    try:
                        yield future.result()
                    except BrokenProcessPool:
                        broken = True
                        if suspects is None:
                            yield crashed_row(config, WORKER_DIED)
                        else:
                            suspects.append(config)
                if broken:  # every run still in flight died with the pool
                    if suspects is not None:
                        suspects.extend(in_flight.values())
                    in_flight.clear()
                    return
        except BaseException:  # Ctrl-C, or the caller stopped reading: the running fits are abandoned
            _stop_workers(pool)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        """Nothing to release."""


# Ray turns a node address of 127.0.0.1 into the machine's network address (services.resolve_ip_for_localhost)
# unless it is told there is no cluster to reach: then every process of a local Ray (GCS, raylet, workers, the
# runtime-env agent) binds to and talks over loopback alone. Measured with Ray 2.60: without this, the GCS and
# raylet listened on every interface and the runtime-env agent on the machine's address, with no authentication.
_LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
ADDRESS_TIMEOUT_SECONDS = 10.0  # how long --address gets to answer before the study is refused


@contextlib.contextmanager
def _loopback_only(ray) -> Iterator[None]:
    """Within this block a local Ray starts on 127.0.0.1 alone (its child processes read the environment, this
    process Ray's constant); both are restored afterwards, for a later ``ray.init`` that joins a cluster."""
    from ray._private import ray_constants

    previous_env, previous_flag = os.environ.get(_LOOPBACK_ENV), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[_LOOPBACK_ENV] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = previous_flag
        if previous_env is None:
            os.environ.pop(_LOOPBACK_ENV, None)
        else:
            os.environ[_LOOPBACK_ENV] = previous_env


def _check_reachable(address: str) -> None:
    """InvalidParameterError when nothing answers at a 'host:port' or 'ray://host:port' address within
    ``ADDRESS_TIMEOUT_SECONDS`` (Ray itself retries such an address for minutes, printing warnings).
    'auto' and addresses without a port are left to Ray."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=ADDRESS_TIMEOUT_SECONDS):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InvalidParameterError(
            f"could not reach the Ray cluster at {address} ({reason}). Check the address (ray status on the "
            "head node prints it), or drop --address to start a local Ray."
        ) from None


class RayExecutor:
    """Each run is a Ray task (one CPU, one torch thread). ``address`` None starts a local Ray on 127.0.0.1
    alone (every Ray process binds to loopback) with no dashboard (``jobs`` CPUs, default all), shut down by
    ``close``; an address ('auto', 'ray://host:10001', 'host:6379') joins that cluster and leaves it running."""

    def __init__(self, address: str | None = None, jobs: int | None = None):
        try:
            import ray
        except ImportError:
            raise InvalidParameterError(
                "--executor ray needs Ray: pip install 'latentid[ray]' (or pip install ray)."
            ) from None
        if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
            raise InvalidParameterError(f"--jobs must be an int >= 1. Got {jobs!r} instead.")
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report leaves the machine
        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            if address is not None:
                _check_reachable(address)
            try:
                if address is None:
                    with _loopback_only(ray):
                        ray.init(
                            num_cpus=jobs or os.cpu_count() or 1,
                            include_dashboard=False,
                            _node_ip_address="127.0.0.1",
                            log_to_driver=False,
                            logging_level="ERROR",
                        )
                else:
                    ray.init(address=address, log_to_driver=False, logging_level="ERROR")
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = "a local Ray" if address is None else f"the Ray cluster at {address}"
                raise InvalidParameterError(
                    f"could not start or reach {where} ({type(exc).__name__}: {' '.join(str(exc).split())})."
                ) from None
            self._started = True
        self._task = ray.remote(num_cpus=1, max_retries=0)(run_one)

    def map(self, configs: Iterable[str]) -> Iterator[dict]:
        submitted = {self._task.remote(config, 1): config for config in configs}
        pending = list(submitted)
        try:
            while pending:
                done, pending = self._ray.wait(pending, num_returns=1)
                try:
                    yield self._ray.get(done[0])
                except (self._ray.exceptions.WorkerCrashedError, self._ray.exceptions.OutOfMemoryError) as exc:
                    # one task's worker died (run_one itself records every error a run raises): that run failed
                    yield crashed_row(submitted[done[0]], f"{WORKER_DIED} ({type(exc).__name__})")
        finally:
            for ref in pending:  # an interrupted driver cancels what it will not collect
                self._ray.cancel(ref, force=True)

    def close(self) -> None:
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()


def make_executor(name: str, jobs: int | None = None, address: str | None = None):
    """The executor of ``--executor NAME`` with ``--jobs`` and (ray) ``--address``."""
    if name not in EXECUTORS:
        raise InvalidParameterError(f"--executor must be one of {', '.join(EXECUTORS)}; got '{name}'.")
    if name == "local":
        if address is not None:
            raise InvalidParameterError("--address applies only to --executor ray. Drop it.")
        return LocalExecutor(1 if jobs is None else jobs)
    return RayExecutor(address, jobs)
