"""Refuse work that cannot fit in memory before allocating it.

On Linux a request beyond the memory there is usually not refused when made: the process is killed later, with no
message and nothing written. So sizes that are known up front (a simulator's arrays) are checked against the memory
available first.
"""

from __future__ import annotations

from pathlib import Path

from latentid.errors import InvalidParameterError

GIB = 2**30


def _read_int(path: str, key: str | None = None) -> int | None:
    """An integer from a /proc or /sys file (the value after ``key`` where given); None where unreadable."""
    try:
        text = Path(path).read_text()
        if key is None:
            return int(text.split()[0])
        for line in text.splitlines():
            if line.startswith(key):
                return int(line.split()[1]) * 1024  # /proc/meminfo counts kB
    except (OSError, ValueError, IndexError):
        return None
    return None


def available_bytes() -> int | None:
    """Memory this process may still take: the machine's MemAvailable, or less under a cgroup (container) limit
    or an address-space limit (``ulimit -v``); None where none can be read (no check is made)."""
    machine = _read_int("/proc/meminfo", "MemAvailable:")
    limit, used = _read_int("/sys/fs/cgroup/memory.max"), _read_int("/sys/fs/cgroup/memory.current")
    group = None if limit is None or used is None else max(0, limit - used)  # memory.max is "max" when unlimited
    known = [v for v in (machine, group, _address_space_left()) if v is not None]
    return min(known) if known else None


def _address_space_left() -> int | None:
    """What ``ulimit -v`` (RLIMIT_AS) leaves this process beyond the address space it holds (VmSize); None when
    unlimited or unreadable. Under such a limit a large request failed late, as a MemoryError, past every check."""
    try:
        import resource
    except ImportError:  # not on this platform
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    held = _read_int("/proc/self/status", "VmSize:")
    return None if held is None else max(0, soft - held)


def check_memory(need_bytes: float, what: str, fix: str) -> None:
    """Raise InvalidParameterError when ``what`` needs more than the memory available ("<what> needs about ...")."""
    available = available_bytes()
    if available is not None and need_bytes > available:
        raise InvalidParameterError(
            f"{what} needs {_gib(need_bytes)} of memory, and {_gib(available)} is available. {fix}"
        )


def _gib(n_bytes: float) -> str:
    gib = n_bytes / GIB
    return f"about {gib:,.1f} GiB" if gib < 100 else f"about {gib:,.0f} GiB" if gib < 2**20 else "over a million GiB"
