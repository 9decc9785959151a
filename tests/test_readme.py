"""The README's commands run as written.

* The CLI quick start (the fenced block after `<!-- quickstart ... -->`): every `turnsignal ...` line
  runs as `python -m api.cli ...` in a temporary directory and must exit 0 and write its `--out`;
  other shell lines (the `printf` of the targets) run in bash there. Only the data is smaller: the
  shared tables are replaced by fixtures (the OLMo final-checkpoint slice cut to 3 tasks x all 30
  runs, the Pythia LAMBADA slice), fits get `--draws 100 --tune 100 --trend compute`, and the backtest runs the
  logistic baseline only with 5 bootstrap replicates (every method's backtest is tested in
  tests/test_backtest.py).
* The REST session and the bets/markets block that continues it run in bash against a real
  `turnsignal serve` on a fresh SQLite file; only the base URL and the path of the `turnsignal`
  script change. The typed client's Python block then runs against the same server, with the
  session's `ADA` key and a new open binary question as `question_id`. The fits block runs too
  (slow: a real fit by a worker, on a 3-task slice).
* The lm-eval block runs in tests/test_cli_lmeval.py (`readme_block_lines` finds it here).
"""
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from api.client import Client
from api.devserver import SERVE, running_server

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FIXTURES = Path(__file__).parent / "fixtures"
SHARED_OLMO = "../shared/data/olmo_ladder/olmo_ladder_final_checkpoints.csv"
SHARED_PYTHIA = "../shared/data/pythia_evals/pythia_evals_core_long.csv"
SLICE_TASKS = [("hellaswag", ""), ("boolq", ""), ("mmlu", "stem")]
"""Tasks of the OLMo slice: the quick start predicts mmlu_stem and hellaswag; boolq's success is acc."""
SMALLER = {"fit": ["--draws", "100", "--tune", "100", "--trend", "compute"],
           "backtest": ["--methods", "B1_logistic", "--n-boot", "5"]}
"""Options appended to a command so that it runs in seconds. The fit is the single compute form: the
default stack is four fits (35 s -> 112 s for this test, measured); the stack's file, predictions,
emergence and chart are tested in tests/test_backtest.py, and the slow fits block below runs the
default stack through the worker."""


def fenced_blocks(marker: str) -> list[str]:
    """The fenced code blocks of the README that follow an HTML comment starting with ``marker``."""
    pattern = re.compile(rf"<!-- {marker}\b[^>]*-->\n```\w*\n(.*?)```", re.DOTALL)
    return pattern.findall(README.read_text())


def shell_lines(block: str) -> list[str]:
    """The commands of a shell block: continuation lines joined, comments and blank lines dropped."""
    joined = re.sub(r"\\\n\s*", " ", block)
    return [line for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def readme_block_lines(language: str, containing: str) -> list[str]:
    """The lines of the README's first ``language`` fenced block that contains ``containing``, as
    `shell_lines` gives them (a bash block) or verbatim (any other)."""
    blocks = [block for block in re.findall(rf"```{language}\n(.*?)```", README.read_text(), re.DOTALL)
              if containing in block]
    assert blocks, f"no {language} block in the README contains {containing!r}"
    return shell_lines(blocks[0]) if language == "bash" else blocks[0].splitlines()


def _env() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def _olmo_slice(path: Path) -> Path:
    raw = pd.read_csv(FIXTURES / "olmo_ladder_final.csv", keep_default_na=False)
    keep = pd.Series(list(zip(raw["task"], raw["subtask"]))).isin(SLICE_TASKS).to_numpy()
    raw[keep].to_csv(path, index=False)
    return path


def test_readme_stays_short() -> None:
    assert len(README.read_text().splitlines()) <= 250


def _anchors(page: Path) -> set[str]:
    """The #anchors of a Markdown page: its headings, as GitHub makes them, and its `<a id="...">`s."""
    text = page.read_text()
    headings = re.findall(r"^#+ (.+)$", text, re.MULTILINE)
    return ({re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}
            | set(re.findall(r'<a id="([^"]+)">', text)))


def test_links_of_the_readme_and_docs_resolve() -> None:
    broken = []
    for page in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            path, _, anchor = target.partition("#")
            linked = page.parent / path if path else page
            if re.match(r"\w+:", target):
                continue  # http(s) and mail links are not checked
            if not linked.exists() or (anchor and linked.suffix == ".md" and anchor not in _anchors(linked)):
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, broken


def test_quickstart_is_marked() -> None:
    lines = [line for block in fenced_blocks("quickstart") for line in shell_lines(block)]
    commands = [shlex.split(line)[1] for line in lines if line.startswith("turnsignal ")]
    assert commands[:2] == ["data", "fit"] and {"emergence", "predict", "backtest"} <= set(commands)
    assert SHARED_OLMO in README.read_text() and SHARED_PYTHIA in README.read_text()


def test_quickstart_commands_run(tmp_path) -> None:
    substitutes = {SHARED_OLMO: str(_olmo_slice(tmp_path / "olmo_slice.csv")),
                   SHARED_PYTHIA: str(FIXTURES / "pythia_lambada.csv")}
    work = tmp_path / "work"
    work.mkdir()
    for line in (line for block in fenced_blocks("quickstart") for line in shell_lines(block)):
        if line.startswith(". .venv/bin/activate"):
            continue  # the test's interpreter stands for the venv
        for shared, fixture in substitutes.items():
            line = line.replace(shared, fixture)
        if not line.startswith("turnsignal "):
            done = subprocess.run(["bash", "-c", line], cwd=work, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, f"{line}\n{done.stderr}"
            continue
        args = shlex.split(line)[1:]
        args += SMALLER.get(args[0], [])
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=work, env=_env(), capture_output=True,
                              text=True, timeout=600)
        print(f"{time.perf_counter() - start:6.1f} s  {line}")
        assert done.returncode == 0, f"{line}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        out = work / args[args.index("--out") + 1]
        assert out.exists() and (any(out.iterdir()) if out.is_dir() else out.stat().st_size > 0), line


def _bash_blocks(containing: str) -> list[str]:
    """The README's bash blocks from the REST session on, up to the first one containing ``containing``."""
    text = README.read_text()
    session = fenced_blocks("rest-session")[0]
    blocks = [session]
    for block in re.findall(r"```bash\n(.*?)```", text[text.index(session) + len(session):], re.DOTALL):
        blocks.append(block)
        if containing in block:
            return blocks
    raise AssertionError(f"no bash block with {containing!r} after the REST session")


def _run_session(blocks: list[str], tmp_path: Path, serve_args: tuple[str, ...] = SERVE,
                 substitutions: dict[str, str] | None = None, then: Callable[[str, str], None] | None = None) -> str:
    """Run ``blocks`` as one bash script (stopping at the first failure) against a real server on a
    fresh SQLite file, in ``tmp_path``; then ``then(base_url, stdout)`` while the server still runs;
    returns the script's stdout without spaces."""
    env = {**_env(), "TURNSIGNAL_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'readme.db'}",
           "TURNSIGNAL_DATA_DIR": str(tmp_path / "data")}
    script = "set -eo pipefail\n" + "".join(blocks)
    for old, new in {".venv/bin/turnsignal": f"{shlex.quote(sys.executable)} -m api.cli", **(substitutions or {})}.items():
        assert old in script, old
        script = script.replace(old, new)
    with running_server(env=env, args=serve_args) as base_url:
        script = script.replace("BASE=http://127.0.0.1:8000", f"BASE={base_url}")
        done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=1200)
        assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        if then is not None:
            then(base_url, done.stdout)
    return done.stdout.replace(" ", "")


def _run_client_block(base_url: str, session_out: str) -> None:
    """The README's typed-client block, as written but for the base URL, with the session's ADA and
    a new open binary question; Ada ends with a forecast and an opened commitment on it."""
    admin_key, ada_key = session_out.strip().splitlines()[-1].split(":")[1:]
    with Client(base_url, admin_key) as admin:
        question = admin.create_question({"kind": "binary", "title": "Does the client block run?",
                                          "closes_at": "2030-01-01T00:00:00Z"})
    code = "\n".join(readme_block_lines("python", "from api.client import"))
    assert "http://127.0.0.1:8000" in code
    exec(code.replace("http://127.0.0.1:8000", base_url), {"ADA": ada_key, "question_id": question["id"]})
    with Client(base_url, ada_key) as ada:
        versions = ada.predictions(question["id"])
    assert [(v["probability"], bool(v["commitment"]), bool(v["opened_at"])) for v in versions] == [
        (0.7, False, False), (0.65, True, True)], versions


def test_rest_session_runs_against_a_server(tmp_path) -> None:
    keys = 'echo "keys:$ADMIN:$ADA"\n'  # for the typed-client block that runs next
    out = _run_session([*_bash_blocks("/v1/markets"), keys], tmp_path, then=_run_client_block)
    assert out.count('"error"') == 1 and '"status":404' in out, out  # only the sealed result
    for expected in ('"probability":0.7', '"resolved_question_ids"', '"brier"', '"offerer_stake":3000000',
                     '"prices_after"', '"balance"'):
        assert expected in out, (expected, out)


@pytest.mark.slow
def test_model_in_the_loop_runs_against_a_server_and_worker(tmp_path) -> None:
    """The fits block with a worker: a 3-task slice of the example table and 100 + 100 draws."""
    table = pd.read_csv(ROOT / "examples" / "data" / "olmo_ladder.csv")
    table[table["task"].isin(["arc_easy", "hellaswag", "boolq"])].to_csv(tmp_path / "slice.csv", index=False)
    out = _run_session(_bash_blocks("/v1/fits"), tmp_path, SERVE + ("--with-worker",), {
        "examples/data/olmo_ladder.csv": str(tmp_path / "slice.csv"),
        '"seed": 0}': '"seed": 0, "draws": 100, "tune": 100}'})
    for expected in ('"log10_flops_median"', '"task":"arc_easy"', '"q95"'):
        assert expected in out, (expected, out)
    assert (tmp_path / "arc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
