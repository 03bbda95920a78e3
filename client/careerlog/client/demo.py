"""A guided tour: the career loop on a throwaway home, through the real CLI.

Every step is an ordinary ``careerlog`` command line, printed before it runs,
so a newcomer sees exactly what to type for themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import shlex
import socket
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

__all__ = ["run_demo"]


def _say(text: str) -> None:
    print(f"\n\033[1m# {text}\033[0m" if sys.stdout.isatty() else f"\n# {text}", flush=True)


async def _call(args: Any) -> int:
    """Run a verb's handler: read verbs are plain functions, write verbs coroutines."""
    outcome = args.handler(args)
    return outcome if isinstance(outcome, int) else await outcome


async def _run(home: Path, argv: list[str], *, capture: bool = False) -> str:
    """Run one CLI command line in this process; return its output when captured."""
    from careerlog.client.cli import CliError, build_parser

    shown = ["careerlog", *argv]
    print("$ " + shlex.join(shown), flush=True)
    full = [*argv, "--home", str(home)]
    args = build_parser(full).parse_args(full)
    if capture:
        args.json = True
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            code = await _call(args)
        created: str = json.loads(buffer.getvalue())["id"]
        print(created)
    else:
        code = await _call(args)
        created = ""
    if code != 0:
        raise CliError(f"demo step failed: {shlex.join(shown)}", code)
    return created


async def run_demo(home: str | None) -> int:
    """Record a small career plan and show status, history and timeline."""
    if home is None:
        base = Path(tempfile.mkdtemp(prefix="careerlog-demo-"))
    else:
        base = Path(home).expanduser()
        if (base / "careerlog.db").exists():
            from careerlog.client.cli import CliError

            raise CliError(f"{base} already holds a Careerlog home; the demo needs an empty one")
    print(f"Careerlog demo on a throwaway home: {base}")
    print("(every line starting with $ is a command you can type yourself)")

    _say("Set a SMART goal: specific, measurable, relevant, with a due date")
    goal = await _run(
        base,
        [
            "goal", "set", "Become a staff engineer",
            "--metric", "promotion packet sections", "--target", "5",
            "--due", "+6m", "--start", "-30d", "--on", "-30d",
            "--relevance", "lead the platform rewrite",
        ],
        capture=True,
    )  # fmt: skip
    _say("Break it into milestones")
    design = await _run(
        base,
        ["milestone", "add", goal, "Lead a cross-team design review", "--due", "+2w"],
        capture=True,
    )
    await _run(
        base,
        ["milestone", "add", goal, "Write the promotion packet", "--due", "+5m"],
        capture=True,
    )
    _say("What have I done today for my career?")
    await _run(
        base,
        ["log", "Paired with a new teammate on the migration @mentoring", "--kind", "mentoring",
         "--goal", goal, "--minutes", "45"],
        capture=True,
    )  # fmt: skip
    await _run(base, ["progress", goal, "2", "--confidence", "0.7"], capture=True)
    await _run(base, ["milestone", "reach", design, "--evidence", "design doc approved"],
               capture=True)  # fmt: skip
    _say("Course-correct: plans change, and the reason is kept")
    await _run(
        base,
        ["goal", "revise", goal, "--target", "6", "--reason-code", "learned_new_info",
         "-m", "the committee now expects an operations section"],
        capture=True,
    )  # fmt: skip
    await _run(
        base,
        ["goal", "reschedule", goal, "--to", "+8m", "--reason-code", "priorities_changed",
         "-m", "the rewrite slipped a quarter"],
        capture=True,
    )  # fmt: skip
    _say("Where do I stand?")
    await _run(base, ["status"])
    _say("How did this goal change, and why?")
    await _run(base, ["history", goal])
    _say("Everything that happened, in order")
    await _run(base, ["timeline"])
    await _sync_tour(base)
    print(
        f"\nTry more yourself:  export CAREERLOG_HOME={base}; careerlog --help"
        "\nYour own log lives in the default home: just run  careerlog init"
        "\nConnect a real device: careerlog login https://YOUR-SERVER --token TOKEN "
        "(a token comes from: careerlog-server user add NAME, or user enroll NAME)"
    )
    return 0


def _server_command() -> list[str]:
    script = Path(sys.executable).with_name("careerlog-server")
    if script.exists():
        return [str(script)]
    return [
        sys.executable,
        "-c",
        "import sys; from careerlog.server.cli import main; sys.exit(main())",
    ]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _admin(db_url: str, *words: str) -> str:
    """Run one ``careerlog-server`` admin command, show it, return its output."""
    print("$ " + shlex.join(["careerlog-server", *words, "--db", db_url]), flush=True)
    done = subprocess.run(
        [*_server_command(), *words, "--db", db_url], capture_output=True, text=True, check=True
    )
    print(done.stdout.strip(), flush=True)
    return done.stdout.strip()


async def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        if process.poll() is not None:
            raise RuntimeError("the demo server stopped")
        try:
            await asyncio.to_thread(urllib.request.urlopen, f"{url}/ready", timeout=1)
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError("the demo server did not start")


async def _sync_tour(laptop: Path) -> None:
    """Two devices of one person converge through a server on the embedded default."""
    try:
        import careerlog.server.cli  # noqa: F401 -- only to know the server extra is here
    except ImportError:
        print("\n(Install the server extra to see two devices sync: pip install -e '.[server]')")
        return
    phone = laptop.with_name(laptop.name + "-phone")
    db_url = f"sqlite:///{laptop.with_name(laptop.name + '-server.db')}"
    url = f"http://127.0.0.1:{_free_port()}"
    port = url.rsplit(":", 1)[1]
    _say("Sync: a server on the embedded SQLite default, and a second device")
    print("$ " + shlex.join(["careerlog-server", "serve", "--db", db_url, "--port", port]))
    server = subprocess.Popen(
        [*_server_command(), "serve", "--db", db_url, "--port", port, "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await _wait_ready(url, server)
        laptop_token = _admin(db_url, "user", "add", "you")
        phone_token = _admin(db_url, "user", "enroll", "you")
        await _run(laptop, ["login", url, "--token", laptop_token, "--name", "laptop"])
        await _run(phone, ["login", url, "--token", phone_token, "--name", "phone"])
        await _run(laptop, ["sync"])
        await _run(phone, ["sync"])
        _say(f"The phone ({phone}) now holds the laptop's plan")
        await _run(phone, ["status"])
        _say("Offline on the phone: log something; then both sync and agree")
        await _run(
            phone,
            ["log", "Coffee chat with a staff engineer @networking", "--kind", "networking"],
            capture=True,
        )
        await _run(phone, ["sync"])
        await _run(laptop, ["sync"])
        await _run(laptop, ["timeline", "--limit", "3"])
    finally:
        server.terminate()
        server.wait(timeout=10)
