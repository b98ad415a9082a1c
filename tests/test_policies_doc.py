"""docs/policies.md describes every policy kind and style, with the code's keys, defaults and sources.

It is written by hand (what each policy is modelled on cannot be generated), so this test holds it
to the registry: a section per kind and style, a row per key with the default the code has, a
"Modelled on" line, and every source cited in occmodel/policies/ cited there too.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from occmodel.docgen import default_text, toml
from occmodel.policies import Policy, Wrapper
from occmodel.policies.base import styles
from occmodel.policies.budget import STYLE_KEYS, STYLES, RetryBudget
from occmodel.reference import fields_of, own_fields, policy_classes

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "policies.md"
HEADING = re.compile(r'^### `kind = "([a-z_]+)"`(?:, `style = "([a-z0-9_]+)"`)?\s*$', re.M)
ROW = re.compile(r"^\| `([a-z_]+)` \| (.+?) \| .+ \|$", re.M)
URL = re.compile(r"https?://[^\s)\"'>,]+")


def sections(text: str) -> dict[tuple[str, str | None], str]:
    """Each `### kind = ..., style = ...` heading's text, up to the next heading."""
    marks = list(re.finditer(r"^#{2,3} .*$", text, re.M))
    out = {}
    for i, m in enumerate(marks):
        h = HEADING.match(m.group(0))
        if h:
            end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
            out[(h.group(1), h.group(2))] = text[m.end():end]
    return out


def section_titled(text: str, title: str) -> str:
    start = text.index(f"### {title}\n")
    nxt = re.compile(r"^#{2,3} ", re.M).search(text, start + 4)
    return text[start:nxt.start() if nxt else len(text)]


def expected_rows() -> dict[tuple[str, str | None], dict[str, str]]:
    """(kind, style) -> {key: default as docs/configuration.md writes it} for every kind and style.

    A kind whose own class has a `style` key (retry_budget: aws, grpc, adaptive) gets one section per
    style, with only that style's keys and that style's defaults; `style` itself is the heading."""
    out: dict[tuple[str, str | None], dict[str, str]] = {}
    for kind, style, cls in policy_classes():
        keys = {k: default_text(f) for k, f in own_fields(cls).items() if k != "style"}
        if style is None and "style" in fields_of(cls):
            assert cls is RetryBudget, f"{kind}: a kind with in-class styles this test does not know"
            for own in styles(kind):
                if (kind, own) in {(k, s) for k, s, _ in policy_classes()}:
                    continue                              # a library's class of its own
                rows = {k: d for k, d in keys.items() if k not in STYLE_KEYS and (k != "refill" or own == "adaptive")}
                rows.update({k: f"`{toml(v)}`" for k, v in STYLES[own].items()})
                out[(kind, own)] = rows
        else:
            out[(kind, style)] = keys
    return out


TEXT = DOC.read_text(encoding="utf-8")
SECTIONS = sections(TEXT)
EXPECTED = expected_rows()


def test_every_kind_and_style_has_a_section_and_no_section_is_stale() -> None:
    missing = sorted(set(EXPECTED) - set(SECTIONS), key=str)
    assert not missing, f"docs/policies.md has no section for {missing}"
    stale = sorted(set(SECTIONS) - set(EXPECTED), key=str)
    assert not stale, f"docs/policies.md describes policies the code does not have: {stale}"


@pytest.mark.parametrize("name", sorted(EXPECTED, key=str), ids=lambda n: ":".join(filter(None, n)))
def test_a_section_has_every_key_with_the_codes_default_and_says_what_it_is_modelled_on(name) -> None:
    body = SECTIONS.get(name)
    assert body is not None, f"docs/policies.md has no section for {name}"
    rows = dict(ROW.findall(body))
    expected = EXPECTED[name]
    assert rows == expected, (f"{name}: keys and defaults differ from the code: doc {rows}, code {expected}")
    assert "**Modelled on:**" in body, f"{name}: say what it is modelled on"


def test_common_and_wrapper_keys() -> None:
    every = dict(ROW.findall(section_titled(TEXT, "Keys every policy takes")))
    assert every == {k: default_text(f) for k, f in fields_of(Policy).items()}
    wrapper = dict(ROW.findall(section_titled(TEXT, "Keys every wrapper takes")))
    assert wrapper == {k: default_text(f) for k, f in own_fields(Wrapper, Policy).items()}


def test_every_source_the_code_cites_is_cited() -> None:
    cited = {u.rstrip(".;:") for p in (ROOT / "occmodel" / "policies").glob("*.py") for u in URL.findall(p.read_text())}
    assert len(cited) >= 10
    missing = sorted(u for u in cited if u not in TEXT)
    assert not missing, f"docs/policies.md does not cite {missing}"


def test_the_checks_would_catch_a_missing_section_and_a_wrong_default() -> None:
    name = ("retry_budget", "finagle")
    cut = TEXT.replace('### `kind = "retry_budget"`, `style = "finagle"`', "### Finagle")
    assert name not in sections(cut)
    wrong = SECTIONS[name].replace('| `ttl` | `"10s"` |', '| `ttl` | `"5s"` |')
    assert dict(ROW.findall(wrong)) != EXPECTED[name]
