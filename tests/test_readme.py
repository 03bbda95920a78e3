"""The README's tour must stay true: run it, line by line, on a throwaway home."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tour() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## A 30-second tour", 1)[1]
    match = re.search(r"```bash\n(.*?)```", section, re.S)
    assert match, "the tour's code block is missing"
    return match.group(1)


def test_the_readme_tour_runs(tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    script = _tour().replace("alias careerlog=.venv/bin/careerlog", "")
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env={
            **os.environ,
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "CAREERLOG_HOME": str(tmp_path / "home"),
            "NO_COLOR": "1",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Become a" in result.stdout
    assert "priorities_changed" in result.stdout
    assert (tmp_path / "career.md").read_text().startswith("# Career report")
