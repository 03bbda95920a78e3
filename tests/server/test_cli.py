"""The admin CLI, in process, on a real SQLite store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from careerlog.server.cli import EXIT_CONFLICT, EXIT_ERROR, EXIT_NOT_FOUND, EXIT_OK, main
from careerlog.server.store import open_store
from careerlog.server.tokens import hash_token
from tests.server.wire import now_ms


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'admin.db'}"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_user_add_prints_only_an_enrollment_token_that_works_once(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "user", "add", "ada", "--db", db)
    assert code == EXIT_OK
    token = out.strip()
    assert token.startswith("cle_")
    assert "24 h" in err

    async def consume_twice() -> list[int | None]:
        async with await open_store(db) as store:
            return [await store.consume_enrollment(hash_token(token), now_ms()) for _ in range(2)]

    assert asyncio.run(consume_twice()) == [1, None]


def test_admin_commands_and_their_exit_codes(
    db: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAREERLOG_SERVER_DB", db)
    assert run(capsys, "migrate")[0] == EXIT_OK
    assert run(capsys, "user", "add", "ada")[0] == EXIT_OK
    code, _, err = run(capsys, "user", "add", "ada")
    assert code == EXIT_CONFLICT
    assert err.count("\n") == 1
    assert "already exists" in err
    assert run(capsys, "user", "enroll", "ada")[1].startswith("cle_")
    assert run(capsys, "user", "list")[1] == "1\tada\n"
    assert run(capsys, "device", "list", "bob")[0] == EXIT_NOT_FOUND
    assert run(capsys, "device", "revoke", "ada", "laptop")[0] == EXIT_NOT_FOUND


def test_device_list_and_revoke(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    async def a_device() -> None:
        async with await open_store(db) as store:
            user = await store.create_user("ada")
            await store.add_device(user, "laptop", b"h" * 32, "work laptop", now_ms())

    asyncio.run(a_device())
    code, out, _ = run(capsys, "device", "list", "ada", "--db", db)
    assert code == EXIT_OK
    assert out.startswith("laptop\twork laptop\t")
    assert out.rstrip().endswith("active")
    assert run(capsys, "device", "revoke", "ada", "laptop", "--db", db)[0] == EXIT_OK
    assert run(capsys, "device", "revoke", "ada", "laptop", "--db", db)[0] == EXIT_CONFLICT
    assert "revoked" in run(capsys, "device", "list", "ada", "--db", db)[1]


def test_device_list_shows_token_expiry(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    day = 86_400_000

    async def devices() -> None:
        async with await open_store(db) as store:
            user = await store.create_user("ada")
            now = now_ms()
            await store.add_device(user, "laptop", b"l" * 32, "laptop", now, now + day)
            await store.add_device(user, "phone", b"p" * 32, "phone", now, now - 1)

    asyncio.run(devices())
    lines = run(capsys, "device", "list", "ada", "--db", db)[1].splitlines()
    assert "\tactive until " in lines[0]
    assert "\texpired " in lines[1]


def test_serve_refuses_a_bad_token_lifetime(
    db: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit) as bad:
        main(["serve", "--db", db, "--device-token-days", "-1"])
    assert bad.value.code == 2
    assert "between 0 and 36500" in capsys.readouterr().err
    monkeypatch.setenv("CAREERLOG_SERVER_DEVICE_TOKEN_DAYS", "soon")
    with pytest.raises(SystemExit):
        main(["serve", "--db", db])
    assert "not a number of days: 'soon'" in capsys.readouterr().err


def test_an_unreachable_store_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "user", "list", "--db", "postgresql://x:secret@127.0.0.1:1/db")
    assert code == EXIT_ERROR
    assert err.count("\n") == 1
    assert "secret" not in err
    assert run(capsys, "user", "list", "--db", "mysql://nope")[0] == EXIT_ERROR
