"""Every `modinterp ...` command in README.md and docs/*.md runs as written, on a smoke study's output.

The commands are read from the code blocks, fenced or indented (backslash continuations joined, trailing `# comments`
dropped, `[--option]` taken as `--option`). The demo's folders (`runs/demo`, `runs/quick`, `runs/study`) and the
placeholder `RUN_DIR` point at a smoke study made once per session (`modinterp study growth --preset smoke`),
copied into a fresh working folder per document; the commands of one document run in order there, so a
document's later commands see its earlier outputs (`train ... --resume` after `train`), as a reader's would.
A command that cannot run here is listed in EXCLUDED with the reason; a stale entry fails the test.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
STUDY_FOLDERS = ("runs/demo", "runs/quick", "runs/study")  # the names the docs give a growth study's output
RUN_DIR = "runs/demo/runs/large-embed-aux-s0"  # what the docs' RUN_DIR stands for: one run of that study
COMMAND_TIMEOUT_S = 300

# pattern (re.search on the command as written) -> why it does not run in this test
EXCLUDED = {
    r"^modinterp study growth --preset quick": "the quick study takes about 23 minutes on a 2-core machine; the session "
                                               "fixture runs the same command with --preset smoke",
    r"^modinterp study growth --preset paper": "the paper preset needs a GPU cluster (SLURM via submitit)",
    r"^modinterp study growth --preset regime|runs/regime/": "the regime preset (or its one-seed pilot: an hour and a "
                                                             "half on a 2-core machine) and the runs it writes",
    r"^modinterp demo\b": "the quick study (about 23 minutes on a 2-core machine); the fixture runs its smoke preset",
    r"^modinterp llm serve": "serves until Ctrl-C and needs the [local-llm] extra with the SmolLM2 weights",
    r"--llm-local": "needs the [local-llm] extra with the SmolLM2 weights",
    r"--llm-base-url http://127\.0\.0\.1:(8000|PORT)/v1": "needs an LLM server; tests/describe/test_transformer_pipeline.py "
                                                          "and test_describe_cli_signals.py run these options against a stub",
    r"--preset cpu": "the cpu preset trains for minutes; the smoke-preset commands beside it run",
    r"--preset carve|runs/carve/": "the carve preset's 20,000 games and its training (about 16 minutes on 2 cores; "
                                   "tests/train/test_presets.py validates the preset and builds its model)",
    r"^modinterp modules runs/mod-gh": "reads the run of the excluded cpu-preset training above it (docs/modularity.md)",
    r"runs/g/": "reads the carve test-bed runs (runs/g/base, runs/g/gh) trained with --preset cpu beside it "
                "(minutes; docs/modularity.md section 8)",
    r"runs/(base|adj|adj_levers)\b|^modinterp modules RUN --k 4 --graph G": "trains or reads the cpu-preset runs of "
                                                                           "docs/modularity.md section 8.1 (minutes on "
                                                                           "a busy 2-core machine)",
    r"runs/(mod|base64|bus0|busl1)(/|\s|$)": "reads the cpu-preset runs of docs/modularity.md sections 8.2-8.3 (minutes on a busy 2-core "
                   "machine)",
    r"runs/play/": "reads the cpu-preset play run of docs/results.md (77 min on a busy 2-core machine)",
    r"^modinterp games selfplay .*--rounds": "rounds retrain with the cpu preset (minutes); "
                                             "tests/play/test_selfplay.py runs two rounds on a tiny config",
    r"^modinterp describe --planted": "the planted check trains its networks (minutes); "
                                      "tests/describe/test_transformer_pipeline.py::test_cli_planted_quick_reports_top1_per_describer runs --quick",
}


def commands_in(document: Path) -> list[str]:
    """The `modinterp ...` lines of the document's code (fenced blocks, and blocks indented by four spaces),
    each once, in order."""
    commands: list[str] = []
    in_fence = False
    for line in re.sub(r"\\\n\s*", " ", document.read_text(encoding="utf-8")).splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        if not (in_fence or line.startswith("    ")):
            continue
        command = re.sub(r"\s+#.*$", "", line).strip()
        if command.startswith("modinterp ") and command not in commands:
            commands.append(command)
    return commands


def exclusion_of(command: str) -> str | None:
    """The reason a command is not run, or None."""
    return next((why for pattern, why in EXCLUDED.items() if re.search(pattern, command)), None)


def runnable(command: str) -> list[str]:
    """The argv to run for a documented command: options in [brackets] included, RUN_DIR and study folders mapped."""
    command = re.sub(r"\[(--[^\]]+)\]", r"\1", command).replace("RUN_DIR", RUN_DIR)
    command = command.replace("runs/games.npz", "runs/demo/games.npz")  # describe.md: a game store of the run's board
    # players.md: runs/x and runs/y stand for any two trained runs
    command = re.sub(r"\bruns/x\b", RUN_DIR, command)
    command = re.sub(r"\bruns/y\b", RUN_DIR.replace("embed-aux", "baseline"), command)
    return [sys.executable, "-m", "modinterp", *shlex.split(command)[1:]]


def _cases() -> list:
    cases = []
    for document in DOCUMENTS:
        for command in commands_in(document):
            marks = [pytest.mark.skip(reason=why)] if (why := exclusion_of(command)) else []
            cases.append(pytest.param(document.name, command, marks=marks, id=f"{document.name}: {command}"))
    return cases


def _environment() -> dict[str, str]:
    """This interpreter's environment with the tested source first on the path (a worktree wins over an install)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), *filter(None, [env.get("PYTHONPATH")])])
    return env


@pytest.fixture(scope="session")
def smoke_study(tmp_path_factory) -> Path:
    """`modinterp study growth --preset smoke --out STUDY`, once per session (about 10 s on 2 idle cores)."""
    out = tmp_path_factory.mktemp("docs") / "smoke-study"
    done = subprocess.run([sys.executable, "-m", "modinterp", "study", "growth", "--preset", "smoke", "--out", str(out)],
                          env=_environment(), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@pytest.fixture(scope="session")
def document_folders(smoke_study, tmp_path_factory):
    """A working folder per document, made on first use: the smoke study copied to runs/demo, linked as the others."""
    folders: dict[str, Path] = {}

    def folder_of(name: str) -> Path:
        if name not in folders:
            folder = tmp_path_factory.mktemp(f"docs-{Path(name).stem}")
            shutil.copytree(smoke_study, folder / STUDY_FOLDERS[0])
            for alias in STUDY_FOLDERS[1:]:
                (folder / alias).symlink_to(folder / STUDY_FOLDERS[0], target_is_directory=True)
            folders[name] = folder
        return folders[name]

    return folder_of


@pytest.mark.slow
@pytest.mark.parametrize("document, command", _cases())
def test_documented_command_runs(document, command, document_folders):
    done = subprocess.run(runnable(command), cwd=document_folders(document), env=_environment(),
                          capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
    assert done.returncode == 0, f"{document}: `{command}` exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def test_every_exclusion_names_a_documented_command():
    """An exclusion no document needs any more is stale: remove it, so the list stays the docs' own."""
    documented = [c for document in DOCUMENTS for c in commands_in(document)]
    stale = [pattern for pattern in EXCLUDED if not any(re.search(pattern, c) for c in documented)]
    assert not stale, f"EXCLUDED patterns matching no command in README.md or docs/: {stale}"


# Documents that record long measurements with the commands that made them (minutes to an hour each, mostly
# excluded); every other document is a how-to whose commands must mostly run here.
MEASUREMENT_RECORDS = ("results.md", "modularity.md")


def test_the_docs_hold_commands_and_most_of_them_run():
    """The extraction finds the README's commands; in the how-to documents exclusions stay the exception."""
    readme = commands_in(ROOT / "README.md")
    assert "modinterp games stats runs/games/8x8.npz" in readme
    how_to = [c for document in DOCUMENTS if document.name not in MEASUREMENT_RECORDS for c in commands_in(document)]
    assert sum(exclusion_of(c) is None for c in how_to) > len(how_to) / 2


def _output_of(command: str) -> str | None:
    """The path a command writes with --out, or None."""
    found = re.search(r"--out\s+(\S+)", command)
    return found.group(1) if found else None


def test_no_two_commands_of_a_document_write_the_same_output():
    """A document's commands run in one folder, as a reader runs them: a second write to the same --out fails
    (`the file exists`) unless it says --resume or --overwrite, so give each its own path."""
    clashes = []
    for document in DOCUMENTS:
        writers: dict[str, str] = {}
        for command in commands_in(document):
            out = _output_of(command)
            if out is None or re.search(r"--(resume|overwrite)\b", command):
                continue
            if out in writers:
                clashes.append(f"{document.name}: `{writers[out]}` and `{command}` both write {out}")
            writers.setdefault(out, command)
    assert not clashes, "\n".join(clashes)
