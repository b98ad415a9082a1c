"""The experiment file's JSON Schema and models: every shipped config passes, mistakes do not, and
the hand-parsed tables' models agree with their parsers."""
import copy
import tomllib
from pathlib import Path

import jsonschema
import pytest

from occmodel.bounds import COMPARE_KEYS, BoundsError
from occmodel.errors import ConfigError
from occmodel.experiment import TOP_LEVEL, load_experiment
from occmodel.metrics import METRICS
from occmodel.policies import REGISTRY, STYLED
from occmodel.reference import BoundsEntry, ExperimentFile, TuneTable, json_schema, own_fields, policy_classes
from occmodel.tune import TUNE_KEYS

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "experiments").rglob("*.toml")) + sorted((ROOT / "tests" / "bounds").glob("*.toml"))


@pytest.fixture(scope="module")
def validator():
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_experiment_validates_against_the_schema(validator, path):
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(tomllib.loads(path.read_text()))]
    assert not errors, errors
    load_experiment(path)          # and the loader agrees


BASE = {"experiment": {"name": "x"}, "scenario": {"network": {"one_way": "1ms"}}}


def _with(path: str, value):
    config = copy.deepcopy(BASE)
    *parents, leaf = path.split("/")
    node = config
    for p in parents:
        node = node.setdefault(p, {})
    node[leaf] = value
    return config


# what the loader rejects for the shape of a value (not for a rule between keys), the schema rejects too
@pytest.mark.parametrize("path,value", [
    ("scenario/workload/clinets", 8),                                   # misspelt key
    ("scenario/workload/clients", True), ("scenario/workload/clients", 1.5), ("scenario/workload/clients", 0),
    ("scenario/workload/keys", {"count": 4, "choice": "hot"}),
    ("scenario/network/coalesce", "2 parsecs"), ("scenario/network/coalesce", -1),
    ("scenario/network/one_way", {"dist": "lognrmal", "median": "1ms"}), ("scenario/network/one_way", {"preset": "mars"}),
    ("scenario/store/commit", {"capacity": 0}), ("scenario/store/faults", [{"kind": "slow"}]),
    ("scenario/policy", {"kind": "sometimes"}), ("scenario/policy", {"kind": "jitter", "bse": "1ms"}),
    ("scenario/policy", {"kind": "retry_budget", "budget_percent": 10}),          # an envoy key without its style
    ("scenario/policy", {"kind": "retry_budget", "inner": {"kind": "jitter", "mode": "fll"}}),
    ("sweep", {"policy": [{"kind": "none"}]}),                                      # no label
    ("sweep", {"workload.clients": []}),
    ("bounds", [{"p98_ms": "< 3"}]), ("bounds", [{"p99_ms": "about 3"}]),
    ("bounds", [{"compare": {"a": "x", "b": "y", "metric": "calls", "expect": "a << b"}}]),
    ("tune", {"params": {}, "minimize": "p99_ms"}), ("tune", {"params": {"policy.base": {"low": 1}}, "minimize": "p99"}),
    ("experiment/drain", "sometimes"), ("experiment/colour", "blue"),
])
def test_the_schema_rejects_what_the_loader_rejects(validator, path, value):
    config = _with(path, value)
    assert list(validator.iter_errors(config)), f"schema accepted {path} = {value!r}"
    with pytest.raises((ConfigError, BoundsError)):
        load_experiment(config) if path.split("/")[0] != "tune" else _tune(config)


def _tune(config):
    from occmodel.tune import parse_tune
    parse_tune(config["tune"])


@pytest.mark.parametrize("path,value", [
    ("scenario/policy", {"kind": "retry_budget", "style": "envoy", "budget_percent": 10}),
    ("scenario/policy", {"kind": "circuit_breaker", "failures": ["error"], "inner": {"kind": "jitter", "mode": "equal"}}),
    ("scenario/store/commit", {"capacity": "inf", "service": {"preset": "fdb-commit"}, "batch_interval": "2ms"}),
    ("scenario/workload", {"kind": "open", "schedule": [{"until": "5s", "rate": 10}, {"until": "9s", "rate": 20, "ramp": True}, {"rate": 5}]}),
    ("experiment/drain", "auto"), ("experiment/max_time", "2h"),
])
def test_the_schema_accepts_what_the_loader_accepts(validator, path, value):
    config = _with(path, value)
    load_experiment(config)
    assert not list(validator.iter_errors(config))


def test_every_registered_policy_and_style_is_in_the_schema():
    variants = json_schema()["$defs"]["policy"]["oneOf"]
    assert len(variants) == len(REGISTRY) + len(STYLED) == len(policy_classes())
    kinds = {(v["properties"]["kind"]["const"], "style" in v["required"] and v["properties"]["style"].get("const"))
             for v in variants}
    assert kinds == {(k, False) for k in REGISTRY} | {(k, s) for k, s in STYLED}


def test_the_hand_parsed_tables_models_match_their_parsers():
    assert set(ExperimentFile.model_fields) == set(TOP_LEVEL)
    assert set(TuneTable.model_fields) == set(TUNE_KEYS)
    from occmodel.reference import Compare
    assert tuple(Compare.model_fields) == COMPARE_KEYS
    assert set(BoundsEntry.model_fields) == {"where", "name", "compare", *METRICS}


def test_own_fields_are_what_a_kind_adds_or_changes():
    cls = REGISTRY["fdb"]
    assert list(own_fields(cls)) == ["max_attempts", "base", "cap", "too_old_delay"]   # max_attempts: default 0
    assert list(own_fields(REGISTRY["immediate"])) == []
