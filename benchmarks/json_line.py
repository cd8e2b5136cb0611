"""The JSON line every benchmark prints: strict JSON, so a figure that is not finite (NaN where no GPU was
timed, a rank correlation of constant values) is written as null, which jq and other strict parsers read."""

from __future__ import annotations

import json
import math
from typing import Any


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def json_line(record: Any) -> str:
    """``record`` as one line of strict JSON, non-finite floats as null."""
    return json.dumps(_finite(record), allow_nan=False)
