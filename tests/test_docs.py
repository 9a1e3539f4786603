"""The README and docs/ cannot go stale: a result number only inside a generated block, and each block what the
committed records give; every time quoted found in bench/RESULTS.md; every command parsed, every path and link
there. Each check is a function, shown to fail on a planted fault."""

import re
import shlex
import subprocess

from conftest import MAIN_PARAMS, REPO, committed, documents
from skipnet.analysis import records, report

GENERATED = re.compile(r"<!-- (\w+) -->\n.*?<!-- /\1 -->", re.S)
RESULT = re.compile(r"\d+\.\d+%|\bp\s*[=<>]\s*\d*\.\d+")  # e.g. 54.52%, p = 0.029: a result, not a setting
TIME = re.compile(r"\b(\d+(?:\.\d+)?) ?(s|seconds|min|minutes|h|hours)\b")
FENCE = re.compile(r"```(\w*)\n(.*?)```", re.S)
PROGRAMS = {"dvc", "python", "pip", "git", "gto", "tar"}
OUTPUTS = ("data/", "models/", "metrics/", "plots/", "dvclive/", "dvc_plots/")  # made by a run, not in a clone
SECTIONS = ["Setup", "Quick start (offline)", "The real study", "Experiments", "Results", "Where next", "Tests"]


def prose(text):
    """The text outside generated blocks."""
    return GENERATED.sub("", text)


def stale_numbers(text):
    return RESULT.findall(prose(text))


def unquoted_times(text, results):
    return [m.group(0) for m in TIME.finditer(prose(FENCE.sub("", text))) if m.group(1) not in results]


def bad_commands(text, doc):
    """Lines of ```bash blocks that do not parse, run an unknown program, or name a script or file not here."""
    from dvc.cli import DvcParserError, parse_args

    bad = []
    for lang, block in FENCE.findall(text):
        if lang != "bash":
            continue
        for line in block.splitlines():
            for command in line.split("  #")[0].split("&&"):
                try:
                    words = shlex.split(command)
                except ValueError as e:
                    bad.append(f"{doc}: {command.strip()} ({e})")
                    continue
                while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # VAR=value before the program
                    words = words[1:]
                if not words or words[0] in ("cd", "sbatch") or words[0].startswith("$"):
                    continue
                if words[0] not in PROGRAMS:
                    bad.append(f"{doc}: {command.strip()} (unknown program {words[0]})")
                elif words[0] == "dvc" and "$(" not in command:
                    try:
                        parse_args(words[1:])
                    except (DvcParserError, SystemExit):
                        bad.append(f"{doc}: {command.strip()} (dvc does not parse it)")
                elif words[0] == "python" and words[1].endswith(".py") and not (REPO / words[1]).exists():
                    bad.append(f"{doc}: {command.strip()} (no {words[1]})")
                elif words[:3] == ["pip", "install", "-r"] and not (REPO / words[3]).exists():
                    bad.append(f"{doc}: {command.strip()} (no {words[3]})")
    return bad


def broken_paths(text, doc):
    """Markdown links and backticked repository paths that do not exist (run outputs and URLs aside)."""
    folder = (REPO / doc).parent
    links = [
        (folder / target.split("#")[0])
        for target in re.findall(r"\]\(([^)\s]+)\)", text)
        if not target.startswith(("http", "#"))
    ]
    named = [
        REPO / p
        for p in re.findall(r"`((?:src|docs|tools|stages|scripts|bench|reports|notebooks|tests)/[\w./-]+)`", text)
    ]
    return [str(p.relative_to(REPO)) for p in links + named if not p.exists() and not str(p).startswith(OUTPUTS)]


def test_the_readme_is_short_and_in_a_newcomers_order():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 150
    assert re.findall(r"^## (.+)$", text, re.M) == SECTIONS
    for page in ("gpu", "grids", "sharing", "statistics", "predict", "architecture"):
        assert f"(docs/{page}.md)" in text  # linked from the README


def test_no_result_number_outside_a_generated_block_and_every_time_from_results():
    results = set(re.findall(r"\d+(?:\.\d+)?", (REPO / "bench/RESULTS.md").read_text()))
    for doc in documents():
        text = doc.read_text()
        assert stale_numbers(text) == [], doc
        assert unquoted_times(text, results) == [], doc
    planted = "<!-- table1 -->\n| 52.15% |\n<!-- /table1 -->\nMyNet-16 reaches 52.15% (p = 0.012) in 31 min.\n"
    assert stale_numbers(planted) == ["52.15%", "p = 0.012"]
    assert unquoted_times(planted, {"30.1"}) == ["31 min"]


def test_every_command_parses_and_every_path_and_link_exists():
    for doc in documents():
        text, name = doc.read_text(), doc.relative_to(REPO).as_posix()
        assert bad_commands(text, name) == []
        assert broken_paths(text, name) == []
    planted = (
        "See [the guide](docs/nowhere.md) and `tools/gone.py`.\n```bash\ndvc exp rum -S lr=1\npython tools/x.py\n```\n"
    )
    assert broken_paths(planted, "README.md") == ["docs/nowhere.md", "tools/gone.py"]
    assert [b.split(" (")[1] for b in bad_commands(planted, "README.md")] == [
        "dvc does not parse it)",
        "no tools/x.py)",
    ]


def test_the_generated_blocks_are_what_the_committed_records_give(tmp_path):
    subprocess.run(f"git archive HEAD reports/runs | tar -x -C {tmp_path}", shell=True, cwd=REPO, check=True)
    runs = records.load_all(tmp_path / "reports/runs")
    readme = committed("README.md")
    assert report.readme_blocks(readme, runs, MAIN_PARAMS) == readme  # tools/report.py rewrites them; none edited
    edited = readme.replace("| MyNet-16, lr 1e-3 | 54.52%", "| MyNet-16, lr 1e-3 | 55.52%", 1)
    assert edited != readme and report.readme_blocks(edited, runs, MAIN_PARAMS) == readme
