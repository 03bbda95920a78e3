"""The careerlog CLI, in process through ``main`` and through the installed entry point."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from careerlog.client.cli import (
    EXIT_DATA,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    main,
)


class Cli:
    """Runs ``careerlog`` in this process on one home and captures its output."""

    def __init__(self, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.home = home
        self.capsys = capsys

    def run(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(["--home", str(self.home), *argv])
        out, err = self.capsys.readouterr()
        return code, out, err

    def ok(self, *argv: str) -> str:
        code, out, err = self.run(*argv)
        assert code == EXIT_OK, err
        return out

    def json(self, *argv: str) -> Any:
        return json.loads(self.ok(*argv, "--json"))

    def new(self, *argv: str) -> str:
        """Run a write verb; return the id it printed."""
        created = self.ok(*argv).strip()
        assert created
        assert "\n" not in created
        return created


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(tmp_path / "home", capsys)


def _career(cli: Cli) -> dict[str, str]:
    goal = cli.new("goal", "set", "Become staff engineer", "--due", "+180d", "--target", "5",
                   "--metric", "packet sections", "--start=-30d", "--on=-30d")  # fmt: skip
    m1 = cli.new("milestone", "add", goal[:6], "Lead a design review", "--due", "+10d")
    m2 = cli.new("milestone", "add", goal, "Write the packet", "--due", "+150d")
    task = cli.new("task", "add", "Draft the outline", "--goal", goal, "--due", "+3d")
    cli.new("progress", goal, "2", "--confidence", "0.6")
    cli.new("log", "Mentored a new hire @mentoring", "--kind", "mentoring", "--goal", goal)
    cli.new("milestone", "reach", m1, "--evidence", "doc approved")
    cli.new("goal", "revise", goal, "--target", "6", "--reason-code", "learned_new_info",
            "-m", "ops section needed")  # fmt: skip
    cli.new("goal", "reschedule", goal, "--to", "+240d", "--reason-code", "priorities_changed")
    contact = cli.new("contact", "add", "Ada", "--relation", "mentor")
    cli.new("contact", "log", contact, "--follow-up", "+7d", "-m", "talked promotion")
    cli.new("skill", "system-design", "--current", "2", "--target", "4")
    return {"goal": goal, "m1": m1, "m2": m2, "task": task, "contact": contact}


def test_init_is_idempotent(cli: Cli) -> None:
    first = cli.json("init")
    second = cli.json("init")
    assert first == second
    assert first["events"] == 0
    assert Path(first["home"]) == cli.home


def test_write_verbs_print_the_created_id_and_json_the_created_record(cli: Cli) -> None:
    created = cli.json("goal", "set", "Learn Rust", "--due", "+90d")
    assert created["type"] == "GoalSet"
    assert created["event"]["goal_id"] == created["id"]
    assert created["event"]["title"] == "Learn Rust"
    status = cli.json("status")
    assert [g["goal_id"] for g in status["goals"]] == [created["id"]]


def test_the_whole_loop_shows_in_status_history_agenda_insights_and_skills(cli: Cli) -> None:
    ids = _career(cli)
    status = cli.json("status")
    (goal,) = status["goals"]
    assert goal["goal_id"] == ids["goal"]
    assert goal["target"] == 6
    assert goal["milestones_reached"] == 1
    assert goal["next_milestone"]["milestone_id"] == ids["m2"]
    assert goal["verdict"] in {"on_track", "at_risk", "behind"}
    assert status["sync"]["pending"] == 12
    history = cli.json("history", ids["goal"])
    assert [e["kind"] for e in history["entries"]] == ["revised", "rescheduled"]
    assert history["revisions"] == 1
    assert history["slip_days"] == 60
    assert history["entries"][0]["reason"] == "ops section needed"
    agenda = cli.json("agenda")
    kinds = {item["kind"] for item in agenda}
    # The first milestone is reached and the second is beyond the two-week horizon.
    assert kinds == {"task", "follow_up"}
    insights = cli.json("insights")
    assert insights["insights"]["streak_weeks"] == 1
    assert insights["insights"]["by_kind"]["mentoring"] == 1
    assert insights["flags"] == []
    skills = cli.json("skills")
    assert [(s["skill"], s["gap"]) for s in skills] == [("system-design", 2)]
    assert "Become" in cli.ok("status")


def test_timeline_replays_the_plan_as_recorded_at_a_date(cli: Cli) -> None:
    ids = _career(cli)
    now = cli.json("timeline")
    assert now["plan"]["goals"][0]["target"] == 6
    assert len(now["entries"]) == 12
    before = cli.json("timeline", "--as-of", "2000-01-01")
    assert before["plan"]["goals"] == []
    assert before["entries"] == []
    happened = cli.json("timeline", "--occurred-by", "-10d")
    # Only the backdated goal had happened ten days ago.
    assert [g["goal_id"] for g in happened["plan"]["goals"]] == [ids["goal"]]
    assert len(happened["entries"]) == 1


def test_retract_by_event_id_prefix_undoes_a_mistake(cli: Cli) -> None:
    goal = cli.new("goal", "set", "Learn Rust", "--due", "+90d", "--target", "10")
    wrong = cli.json("progress", goal, "9")
    assert cli.json("status")["goals"][0]["current"] == 9
    cli.ok("retract", wrong["event_id"].replace("-", "")[:20], "-m", "typo")
    assert cli.json("status")["goals"][0]["current"] is None
    code, _, err = cli.run("retract", wrong["event_id"])
    assert code == EXIT_REFUSED
    assert "already retracted" in err


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["milestone", "reach", "zzzz"], EXIT_REFUSED, "no milestone matches 'zzzz'"),
        (["goal", "set", "X", "--due", "someday"], EXIT_REFUSED, "'someday' is not a date"),
        (["goal", "set", "   ", "--due", "+9d"], EXIT_REFUSED, "must not be empty"),
    ],
)
def test_bad_commands_fail_with_one_line_and_record_nothing(
    cli: Cli, argv: list[str], code: int, message: str
) -> None:
    cli.ok("init")
    got, out, err = cli.run(*argv)
    assert got == code
    assert out == ""
    assert err.startswith("careerlog: error: ")
    assert message in err
    assert err.count("\n") == 1
    assert cli.json("status")["summary"]["events"] == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["goal", "frobnicate"], "invalid choice"), (["goal", "set", "X"], "--due")],
)
def test_a_malformed_command_line_exits_with_the_usage_code(
    cli: Cli, argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.run(*argv)
    assert exited.value.code == EXIT_USAGE
    assert message in cli.capsys.readouterr().err


def test_reaching_a_milestone_twice_is_refused(cli: Cli) -> None:
    goal = cli.new("goal", "set", "G", "--due", "+30d")
    milestone = cli.new("milestone", "add", goal, "M")
    cli.ok("milestone", "reach", milestone)
    code, _, err = cli.run("milestone", "reach", milestone)
    assert code == EXIT_REFUSED
    assert "already reached" in err


def test_read_verbs_on_a_missing_home_exit_with_the_data_code(cli: Cli) -> None:
    code, _, err = cli.run("status")
    assert code == EXIT_DATA
    assert "careerlog init" in err
    assert not (cli.home / "careerlog.db").exists()


def test_export_then_import_into_an_empty_home_gives_identical_read_models(
    cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _career(cli)
    export = tmp_path / "career.jsonl"
    cli.ok("export", "--format", "jsonl", "--output", str(export))
    lines = export.read_bytes().splitlines()
    assert len(lines) == 12
    assert json.loads(lines[0])["type"] == "GoalSet"
    other = Cli(tmp_path / "other", capsys)
    assert other.json("import", str(export)) == {"added": 12, "duplicates": 0}
    assert other.json("import", str(export)) == {"added": 0, "duplicates": 12}
    mine, theirs = cli.json("status"), other.json("status")
    assert mine["goals"] == theirs["goals"]
    assert mine["summary"] == theirs["summary"]
    assert cli.json("timeline")["plan"] == other.json("timeline")["plan"]


def test_import_of_a_bad_file_names_the_line_and_adds_nothing(cli: Cli, tmp_path: Path) -> None:
    goal = cli.json("goal", "set", "G", "--due", "+30d")
    good = json.dumps(goal["event"])
    bad = tmp_path / "bad.jsonl"
    bad.write_text(good + "\n" + '{"type": "GoalSet", "title": 3}\n')
    other = tmp_path / "fresh"
    code, _, err = Cli(other, cli.capsys).run("import", str(bad))
    assert code == EXIT_DATA
    assert "line 2" in err
    code, _, err = cli.run("import", str(tmp_path / "missing.jsonl"))
    assert code == EXIT_DATA
    assert "cannot read" in err


def test_reports_in_markdown_icalendar_and_csv(cli: Cli) -> None:
    ids = _career(cli)
    markdown = cli.ok("export", "--format", "md")
    assert "# Career report" in markdown
    assert "Become staff engineer" in markdown
    assert "learned_new_info" in markdown
    ics = cli.ok("export", "--format", "ics")
    assert ics.startswith("BEGIN:VCALENDAR")
    assert f"UID:goal-{ids['goal']}@careerlog" in ics
    assert f"UID:milestone-{ids['m2']}@careerlog" in ics
    assert f"UID:milestone-{ids['m1']}@careerlog" not in ics  # reached: no deadline left
    assert "Follow up: Ada" in ics
    rows = cli.ok("export", "--format", "csv").splitlines()
    assert rows[0].startswith("goal_id,title,status")
    assert rows[1].startswith(f"{ids['goal']},Become staff engineer,active")


def test_rebuild_reports_identical_read_models(cli: Cli) -> None:
    _career(cli)
    assert cli.json("rebuild") == {"events": 12, "identical": True}


# --- the installed entry point ----------------------------------------------------------


def _entry_point() -> list[str]:
    found = shutil.which("careerlog", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "careerlog.client.cli"]


def _run(
    home: Path, *argv: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_entry_point(), "--home", str(home), *argv],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )


def test_entry_point_records_reads_and_fails_cleanly(tmp_path: Path) -> None:
    home = tmp_path / "home"
    created = _run(home, "goal", "set", "Learn Rust", "--due", "+60d")
    assert created.returncode == 0, created.stderr
    goal = created.stdout.strip()
    status = _run(home, "status", "--json")
    assert json.loads(status.stdout)["goals"][0]["goal_id"] == goal
    refused = _run(home, "progress", "nope", "1")
    assert refused.returncode == EXIT_REFUSED
    assert refused.stderr == "careerlog: error: no goal matches 'nope'\n"
    assert "Traceback" not in refused.stderr
    home_env = _run(tmp_path / "unused", "status", "--json", env={"CAREERLOG_HOME": str(home)})
    # --home wins over the environment; the environment is used without it.
    assert home_env.returncode == EXIT_DATA
    by_env = subprocess.run(
        [*_entry_point(), "status", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "CAREERLOG_HOME": str(home)},
        timeout=60,
        check=False,
    )
    assert json.loads(by_env.stdout)["goals"][0]["goal_id"] == goal


def test_no_color_is_respected(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _run(home, "goal", "set", "Learn Rust", "--due", "+60d")
    colored = _run(home, "status", env={"FORCE_COLOR": "1", "NO_COLOR": ""})
    plain = _run(home, "status", env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert "\x1b[" in colored.stdout
    assert "\x1b[" not in plain.stdout
    assert "Learn" in plain.stdout


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    result = _run(tmp_path / "demo", "demo")
    assert result.returncode == 0, result.stderr
    for command in ("careerlog goal set", "careerlog goal revise", "careerlog status",
                    "careerlog history", "careerlog timeline"):  # fmt: skip
        assert f"$ {command}" in result.stdout
    assert "learned_new_info" in result.stdout
    # Then a local server, a second device, and both converging.
    assert "$ careerlog-server serve" in result.stdout
    assert "pushed 0, pulled 8" in result.stdout
    assert "pushed 0, pulled 1" in result.stdout
    assert "Coffee chat with a staff engineer" in result.stdout


def test_a_backdated_check_in_after_a_task_completion_still_sets_the_value(cli: Cli) -> None:
    goal = cli.new("goal", "set", "X", "--target", "10", "--due", "+90d", "--start=-7d")
    task = cli.new("task", "add", "t", "--goal", goal)
    cli.ok("task", "done", task)
    cli.ok("progress", goal, "3", "--on", "yesterday")
    (shown,) = cli.json("status")["goals"]
    assert shown["current"] == 3
    assert shown["percent_done"] == 30


def test_retracting_a_retraction_restores_the_entry(cli: Cli) -> None:
    goal = cli.json("goal", "set", "X", "--due", "+9d")
    retraction = cli.json("retract", goal["event_id"])
    assert cli.json("status", "--all")["goals"] == []
    cli.ok("retract", retraction["event_id"], "-m", "it was right")
    assert [g["goal_id"] for g in cli.json("status")["goals"]] == [goal["id"]]
    assert cli.json("rebuild")["identical"] is True


def test_status_with_only_closed_goals_says_so(cli: Cli) -> None:
    goal = cli.new("goal", "set", "X", "--due", "+9d")
    cli.ok("goal", "achieve", goal)
    out = cli.ok("status")
    assert "No open goals (1 closed" in out
    assert "X" in cli.ok("status", "--all")


def test_the_lazy_parser_knows_every_command() -> None:
    import argparse

    from careerlog.client.cli import COMMANDS, build_parser

    full = build_parser([])
    (sub,) = [a for a in full._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(sub.choices) == COMMANDS
    # A command line naming one command builds only that one.
    lazy = build_parser(["--home", "x", "goal", "set", "T", "--due", "+9d"])
    (lazy_sub,) = [a for a in lazy._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(lazy_sub.choices) == {"goal"}
    args = lazy.parse_args(["--home", "x", "goal", "set", "T", "--due", "+9d"])
    assert (args.title, args.due) == ("T", "+9d")


def test_a_mistyped_command_lists_the_real_ones(cli: Cli) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.run("stauts")
    assert exited.value.code == EXIT_USAGE
    assert "invalid choice: 'stauts'" in cli.capsys.readouterr().err
