"""The README stays true to the code: its configuration table and its two set-up commands."""

from __future__ import annotations

import re
from pathlib import Path

from otel_openai_billing.config import OPTIONS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def config_table() -> str:
    """The table the README must contain, generated from the options the code reads."""
    rows = ["| `instrument()` keyword | environment variable | default | what it does |", "|---|---|---|---|"]
    for option in OPTIONS:
        rows.append(f"| `{option.name}` | `{option.env}` | {_shown(option.default)} | {option.doc} |")
    return "\n".join(rows)


def _shown(default: object) -> str:
    if default in ((), None, {}):
        return "(none)"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, tuple) and all(isinstance(p, tuple) and len(p) == 2 for p in default):
        return "`" + ",".join(f"{k}={v}" for k, v in default) + "`"  # as the variable spells it
    return f"`{default}`"


def test_configuration_table_matches_the_code() -> None:
    assert config_table() in README, "regenerate the README table:\n" + config_table()


def test_quick_start_is_the_two_make_targets() -> None:
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^make \w+", quick, flags=re.M)
    assert commands == ["make demo", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, flags=re.M) and re.search(r"^test:", makefile, flags=re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text()
