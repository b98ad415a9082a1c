"""`occmodel bench` runs and prints its figures (a smoke test: benchmarks are not timed tests)."""
import re

from click.testing import CliRunner

from occmodel.cli import main


def test_bench_quick_prints_its_figures():
    result = CliRunner().invoke(main, ["bench", "--quick", "--scale", "0.02"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    text = result.output
    assert re.search(r"bare SimPy\s*:.*events/s", text) and re.search(r"occmodel\s*:.*events/s", text)
    assert re.search(r"per round: (\d+\.\d\d ){4}\d+\.\d\d; median \d+\.\d\d, range \d+\.\d\d-\d+\.\d\d", text)
    assert re.search(r"occmodel +\d+\.\d us CPU per write, \d+\.\d\d events/write", text)
    assert re.search(r"heapq loop +\d+\.\d us CPU per write", text)
    assert re.search(r"creating random streams: \d+\.\d us; occmodel seeds the same streams in \d+\.\d us", text)
    assert re.search(r"study CPU ratio occmodel/heapq loop per round: (\d+\.\d\d ){2}\d+\.\d\d; median \d+\.\d\d", text)
    assert re.search(r"occmodel \d+\.\d\d events/attempt \(general path \d+\.\d\d\), hand-written SimPy \d+\.\d\d",
                     text)
    assert len(re.findall(r"median \d+\.\d\d \(general path: median \d+\.\d\d\)", text)) == 2
    assert re.search(r"closed CPU ratio occmodel/hand-written SimPy per round: (\d+\.\d\d ){4}\d+\.\d\d; "
                     r"median \d+\.\d\d", text)
    assert re.search(r"parallel efficiency per round (\d+\.\d\d ){4}\d+\.\d\d, median \d+\.\d\d\n"
                     r".*CPU ratio (\d+\.\d\d ){4}\d+\.\d\d, median \d+\.\d\d|not measured \(1 core\)",
                     text)
    assert re.search(r"peak memory of a [\d,]+-operation run: \d+ MB", text)
    assert re.search(r"peak memory with [\d,]+ clients .*: \d+ MB", text)
    assert re.fullmatch(r"event rate ratio model/bare: \d+\.\d\d", lines[-1])
    median = re.search(r"median (\d+\.\d\d)", text).group(1)
    assert lines[-1].endswith(median)
