"""What-if (SPEC §10.1) on the replay file of (b), against one replay of it in the same run.

`riskmon whatif FILE --config examples/proposed.toml` (the shipped set with BTCUSDT's
maintenance rates raised by half and margin_call at 0.75) replays the file under that and
the shipped set. Its target: at most twice the time of one `riskmon replay` of the file.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Final

from streams import cli

WHATIF_TARGET: Final = 2.0  # at most this many replays' time
PROPOSED: Final = Path(__file__).resolve().parents[2] / "examples" / "proposed.toml"


def whatif_timing(events: Path, directory: Path) -> dict[str, Any]:
    """Seconds of `riskmon whatif` on `events`, and what its document counted."""
    out = directory / "whatif.json"
    started = time.perf_counter()
    status = cli.main(["whatif", str(events), "--config", str(PROPOSED), "--out", str(out)])
    seconds = time.perf_counter() - started
    if status != 0:
        raise RuntimeError(f"riskmon whatif exited with status {status}")
    document = json.loads(out.read_text(encoding="utf-8"))
    return {
        "seconds": seconds,
        "changed_accounts": len(document["changed_accounts"]),
        "transitions": document["transitions"],
    }


def whatif_row(replay: dict[str, Any]) -> str:
    """The targets table's row: what-if time against the replay's, same run."""
    whatif, seconds = replay["whatif"], replay["seconds"]
    ratio = whatif["seconds"] / seconds
    verdict = "**met**" if ratio <= WHATIF_TARGET else "**missed**"
    counts = whatif["transitions"]
    return (
        f"| what-if of (b)'s file <= {WHATIF_TARGET:.0f}x one replay | {whatif['seconds']:.1f} s "
        f"({ratio:.2f}x; {whatif['changed_accounts']:,} margin accounts change level, "
        f"transitions +{counts['added']:,} -{counts['removed']:,}) | one replay {seconds:.1f} s "
        f"| {verdict} |"
    )
