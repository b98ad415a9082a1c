"""Store URLs: the accepted forms, loopback only, and one clear error for everything else."""
import pytest

from occmodel.backends.url import parse_url
from occmodel.errors import ConfigError


@pytest.mark.parametrize("text,kind,host,port,database", [
    ("redis://127.0.0.1:6390", "redis", "127.0.0.1", 6390, "0"),
    ("redis://localhost", "redis", "localhost", 6379, "0"),
    ("redis://127.0.0.1:6390/3", "redis", "127.0.0.1", 6390, "3"),
    ("redis://[::1]:7000", "redis", "::1", 7000, "0"),
    ("postgresql://occ@127.0.0.1:5433/events", "postgresql", "127.0.0.1", 5433, "events"),
    ("postgres://occ:secret@127.0.0.2/db", "postgresql", "127.0.0.2", 5432, "db"),
])
def test_accepted_forms(text, kind, host, port, database):
    u = parse_url(text)
    assert (u.kind, u.host, u.port, u.database) == (kind, host, port, database)


def test_the_shown_url_has_no_password():
    u = parse_url("postgresql://occ:hunter2@127.0.0.1:5432/db")
    assert u.password == "hunter2"
    assert "hunter2" not in u.shown and u.shown == "postgresql://occ@127.0.0.1:5432/db"


@pytest.mark.parametrize("text,says", [
    ("", "expected a store URL"),
    ("mysql://127.0.0.1/db", "unknown scheme"),
    ("redis://10.0.0.5:6379", "not a loopback"),
    ("redis://db.example.com:6379", "not a loopback"),
    ("postgresql://occ@8.8.8.8/db", "not a loopback"),
    ("redis://127.0.0.1:99999", "is not a URL"),
    ("redis://127.0.0.1:6379/x", "must be a number"),
    ("redis://127.0.0.1:6379/16", "must be a number"),
    ("redis://user:pw@127.0.0.1:6379", "no user or password"),
    ("postgresql://occ@127.0.0.1:5432", "names no database"),
    ("postgresql://127.0.0.1:5432/db?sslmode=require", "no ?query"),
    ("redis://:6379", "names no host"),
])
def test_refused_forms_name_the_option(text, says):
    with pytest.raises(ConfigError) as err:
        parse_url(text)
    assert err.value.path == "--store" and says in str(err.value)
