"""Kill rate per module from mutmut's stored results (run after `mutmut run`; see `make mutation`).

Reads `mutmut results --all true` on stdin, one `name: status` line per mutant, where a name is
`<module>.x_<function>__mutmut_<n>` or `<module>.xǁ<Class>ǁ<method>__mutmut_<n>`.
"""

from __future__ import annotations

import re
import sys
from collections import Counter, defaultdict

LINE = re.compile(r"^\s*(?P<module>[\w.]+?)\.x[_ǁ]\S*__mutmut_\d+:\s*(?P<status>.+?)\s*$")
KILLED = {"killed", "caught by type check"}


def main() -> int:
    by_module: dict[str, Counter] = defaultdict(Counter)
    for line in sys.stdin:
        match = LINE.match(line)
        if match:
            by_module[match["module"]][match["status"]] += 1
    if not by_module:
        print("no mutmut results found; run `mutmut run` first", file=sys.stderr)
        return 1
    print(f"{'module':36s} {'killed':>7s} {'tested':>7s} {'rate':>6s}  other (not checked: not run yet)")
    for module in sorted(by_module):
        counts = by_module[module]
        tested = sum(n for s, n in counts.items() if s != "not checked")
        killed = sum(counts[s] for s in KILLED)
        rate = f"{killed / tested:6.1%}" if tested else "     -"
        other = ", ".join(f"{s} {n}" for s, n in sorted(counts.items()) if s not in KILLED)
        print(f"{module:36s} {killed:7d} {tested:7d} {rate}  {other}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
