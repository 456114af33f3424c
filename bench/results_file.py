"""One way for a benchmark to record its result: the load around it, the UTC time, a JSON file."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def write_result(path: Path, result: dict[str, Any], load_before: tuple[float, float, float]) -> None:
    """Write `result` with the load averages (a noisy machine shows in them) and the UTC time."""
    result = {
        **result,
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    log.info("%s", json.dumps(result, indent=2))
