"""docs/configuration.md is generated from the models, complete, and never stale."""
import re
from pathlib import Path

import pytest
from pydantic import Field

from occmodel import docgen
from occmodel.config import StrictModel
from occmodel.metrics import METRICS
from occmodel.policies import REGISTRY, STYLED
from occmodel.reference import json_schema

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "configuration.md"


def test_the_file_is_what_the_generator_writes():
    assert DOC.read_text(encoding="utf-8") == docgen.generate(), (
        f"docs/configuration.md is stale: run `{docgen.COMMAND}` from the repository root")


def _property_names(node, out):
    if isinstance(node, dict):
        for name, sub in (node.get("properties") or {}).items():
            out.add(name)
            _property_names(sub, out)
        for k, v in node.items():
            if k != "properties":
                _property_names(v, out)
    elif isinstance(node, list):
        for v in node:
            _property_names(v, out)
    return out


def test_every_key_of_the_schema_has_a_row():
    """An independent list of keys (pydantic's schema) against the generator's rows; metric limits
    of [[bounds]] share one row, and `dist`/`kind` tags name their sections."""
    text = docgen.generate()
    rows = set(re.findall(r"^\| `([^`]+)` \|", text, flags=re.M))
    missing = _property_names(json_schema(), set()) - rows - set(METRICS) - {"dist", "kind", "preset"}
    assert not missing, f"keys with no row in docs/configuration.md: {sorted(missing)}"
    assert {"<metric>", "hot_keys", "hot_fraction", "failures", "drain", "max_time", "params", "style"} <= rows
    assert all(f'`dist = "{d}"`' in text for d in ("constant", "uniform", "exponential", "normal", "lognormal", "empirical"))
    assert all(f'`kind = "{k}"`' in text for k in REGISTRY) and all(f'`style = "{s}"`' in text for _, s in STYLED)
    assert "`preset`" in text or "{preset" in text


def test_a_key_without_a_description_fails_naming_it():
    class Table(StrictModel):
        documented: int = Field(1, description="has a meaning")
        bare: int = 2

    with pytest.raises(docgen.DocError, match=r"scenario\.thing\.bare: no description"):
        docgen.table("scenario.thing.", Table.model_fields)


def test_a_row_says_type_default_unit_allowed_and_meaning():
    from occmodel.config import KeyChoice, Server

    (line,) = [r for r in docgen.table("k.", KeyChoice.model_fields) if r.startswith("| `hot_fraction`")]
    assert line == ("| `hot_fraction` | number | `0.9` | fraction | ≥ 0, ≤ 1 | hotspot: share of key draws that go to "
                    "a hot key |")
    (line,) = [r for r in docgen.table("s.", Server.model_fields) if r.startswith("| `capacity`")]
    assert line.startswith('| `capacity` | [capacity](#capacity) | `"inf"` | requests |')
    (line,) = [r for r in docgen.table("s.", KeyChoice.model_fields) if r.startswith("| `choice`")]
    assert '`"uniform"` \\| `"zipf"` \\| `"hotspot"`' in line


def test_check_mode_reports_a_stale_file(tmp_path, capsys):
    stale = tmp_path / "configuration.md"
    stale.write_text("# old\n")
    assert docgen.main([str(stale), "--check"]) == 1
    assert "stale" in capsys.readouterr().err
    assert docgen.main([str(stale)]) == 0 and docgen.main([str(stale), "--check"]) == 0
