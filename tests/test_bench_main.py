"""`python -m benchmarks` (benchmarks/__main__.py) without running a benchmark."""
from benchmarks.__main__ import main


def test_bench_help_lists_the_modules_and_an_unknown_name_is_refused(capsys, tmp_path) -> None:
    assert main(["--help"], results_dir=tmp_path) == 0
    assert "bench_fit" in capsys.readouterr().out
    assert main(["no_such_bench"], results_dir=tmp_path) == 2
    assert "no benchmark module no_such_bench" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing ran, nothing saved


def test_a_module_part_runs_only_that_part_and_a_plain_name_the_whole_module() -> None:
    from benchmarks.__main__ import _runs

    assert _runs(["fit:wide"]) == [("bench_fit", ("wide",))]
    assert _runs(["fit", "fit:wide"]) == [("bench_fit", ()), ("bench_fit", ("wide",))]
    assert ("bench_fit", ()) in _runs([])
