"""``careerlog-server``: run the sync server and administer its accounts.

Rules of this module:
- Every command is ``argparse`` parsing then one ``async`` function on an
  open store; errors are one line on stderr, never a traceback, and the exit
  code says what kind of failure it was (see ``EXIT_*``, docs/operations.md).
- Secrets are printed once, alone on stdout (so ``$(careerlog-server user add
  ada)`` captures just the token); explanations go to stderr.
- The store URL comes from ``--db``, else ``CAREERLOG_SERVER_DB``, else the
  embedded SQLite file in the data directory.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from careerlog.server.settings import DEFAULT_PORT, Settings, default_db_url

__all__ = ["main"]

EXIT_OK = 0
EXIT_ERROR = 1  # the store is unreachable, a migration failed, anything unexpected
EXIT_USAGE = 2  # bad arguments (argparse's own code)
EXIT_NOT_FOUND = 3  # no such user or device
EXIT_CONFLICT = 4  # the user already exists, the device is already revoked

DB_ENV = "CAREERLOG_SERVER_DB"
ENROLLMENT_TTL_MS = 24 * 3600 * 1000


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command in ("project", "rebuild"):
            from careerlog.server.projecting import projection_command

            return asyncio.run(projection_command(args))
        return asyncio.run(_admin(args))
    except CliError as error:
        print(f"careerlog-server: {error}", file=sys.stderr)
        return error.code
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # one line, never a traceback
        print(f"careerlog-server: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_ERROR


def _days(text: str) -> float:
    """A number of days >= 0 (argparse also applies it to the environment's default)."""
    try:
        days = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of days: {text!r}") from None
    if not 0 <= days <= 36_500:
        raise argparse.ArgumentTypeError(f"days must be between 0 and 36500, not {text}")
    return days


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="careerlog-server", description="Careerlog sync server and its administration."
    )
    db = argparse.ArgumentParser(add_help=False)
    db.add_argument(
        "--db",
        default=os.environ.get(DB_ENV) or None,
        help=f"store URL: sqlite:///path or postgresql://… (default: ${DB_ENV}, "
        "else an SQLite file in the data directory)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", parents=[db], help="run the sync server")
    serve.add_argument("--host", default=os.environ.get("CAREERLOG_SERVER_HOST", "127.0.0.1"))
    serve.add_argument(
        "--port", type=int, default=int(os.environ.get("CAREERLOG_SERVER_PORT", DEFAULT_PORT))
    )
    serve.add_argument("--node", default=None, help="this node's name (default: the host name)")
    serve.add_argument(
        "--project",
        default=os.environ.get("CAREERLOG_SERVER_PROJECT", "auto"),
        choices=["auto", "yes", "no"],
        help="run the projector in this process (auto: yes on SQLite, no on PostgreSQL,"
        " where `careerlog-server project` processes do it)",
    )
    serve.add_argument(
        "--device-token-days",
        type=_days,
        default=os.environ.get("CAREERLOG_SERVER_DEVICE_TOKEN_DAYS", "0"),
        metavar="DAYS",
        help="device tokens enrolled from now on expire after DAYS (0, the default: never);"
        " an expired device reconnects with a new enrollment token (careerlog login)",
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.add_argument(
        "--log-format",
        default=os.environ.get("CAREERLOG_SERVER_LOG_FORMAT", "json"),
        choices=["json", "text"],
        help="log lines on stderr: one JSON object each (default), or text for people",
    )

    commands.add_parser("migrate", parents=[db], help="bring the store's schema up to date")

    project = commands.add_parser(
        "project", parents=[db], help="run the projector: keep every user's read models current"
    )
    project.add_argument(
        "--partitions",
        type=int,
        default=int(os.environ.get("CAREERLOG_SERVER_PARTITIONS", 16)),
        help="PostgreSQL: users are split into this many partitions, each led by one process"
        " (every projector process of a database must use the same number; default 16)",
    )
    project.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    rebuild = commands.add_parser(
        "rebuild", parents=[db], help="recompute read models from the log (one user or all)"
    )
    rebuild.add_argument("--user", default=None, help="only this user (default: every user)")

    user = commands.add_parser("user", help="manage users").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    add = user.add_parser("add", parents=[db], help="create a user; print an enrollment token")
    add.add_argument("name")
    enroll = user.add_parser("enroll", parents=[db], help="print another enrollment token")
    enroll.add_argument("name")
    user.add_parser("list", parents=[db], help="list users")

    device = commands.add_parser("device", help="manage devices").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    listing = device.add_parser("list", parents=[db], help="list a user's devices")
    listing.add_argument("user")
    revoke = device.add_parser("revoke", parents=[db], help="revoke a device; closes its socket")
    revoke.add_argument("user")
    revoke.add_argument("device")

    org = commands.add_parser("org", help="manage organisations").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    org_add = org.add_parser("add", parents=[db], help="create an organisation")
    org_add.add_argument("org", help="an id: lowercase letters, digits, '.', '-', '_'")
    org.add_parser("list", parents=[db], help="list organisations, with member and admin counts")
    for role, explain in (
        ("member", "count a user in the organisation's aggregates"),
        ("admin", "let a user read the organisation's aggregates"),
    ):
        role_parser = org.add_parser(role, help=f"{role}s of an organisation").add_subparsers(
            dest="role_action", required=True, metavar="ACTION"
        )
        for verb, help_text in (("add", explain), ("remove", f"stop: {explain}")):
            role_verb = role_parser.add_parser(verb, parents=[db], help=help_text)
            role_verb.add_argument("org")
            role_verb.add_argument("user")
    return parser


def _serve(args: argparse.Namespace) -> int:
    from careerlog.server.logs import configure_logging
    from careerlog.server.serving import sync_server

    settings = Settings(
        db_url=args.db or default_db_url(),
        host=args.host,
        port=args.port,
        project_in_process={"auto": None, "yes": True, "no": False}[args.project],
        device_token_ttl_ms=round(args.device_token_days * 86_400_000) or None,
    )
    if args.node:
        settings = dataclasses.replace(settings, node=args.node)
    configure_logging(args.log_format, args.log_level, settings.node)
    server = sync_server(settings, log_level=args.log_level, own_logging=True)
    server.run()
    # uvicorn reports a failed start-up (port taken, store unreachable) by not starting.
    return EXIT_OK if server.started else EXIT_ERROR


async def _admin(args: argparse.Namespace) -> int:
    from careerlog.server.connection import now_ms
    from careerlog.server.runtime import notify_revocation
    from careerlog.server.store import StoreError, UserExists, open_store
    from careerlog.server.tokens import ENROLLMENT_PREFIX, hash_token, new_token

    url = args.db or default_db_url()
    try:
        # Migrating is idempotent and safe from several nodes at once, so every
        # command does it: `user add` on a new embedded store just works.
        store = await open_store(url)
    except (OSError, StoreError) as error:
        raise CliError(f"cannot open the store at {_redact(url)}: {error}") from None
    async with store:
        if args.command == "migrate":
            print(f"store at {_redact(url)} is up to date (epoch {store.epoch})", file=sys.stderr)
            return EXIT_OK

        async def user_id(name: str) -> int:
            found = await store.user_by_name(name)
            if found is None:
                raise CliError(f"no user named {name!r}", EXIT_NOT_FOUND)
            return found

        async def enrollment_token(uid: int) -> None:
            token = new_token(ENROLLMENT_PREFIX)
            expires_ms = now_ms() + ENROLLMENT_TTL_MS
            await store.add_enrollment(uid, hash_token(token), expires_ms)
            print(token)
            print(
                f"enrollment token for {args.name!r}: valid 24 h, for one device "
                "(POST /v1/devices)",
                file=sys.stderr,
            )

        match (args.command, args.action):
            case ("user", "add"):
                try:
                    uid = await store.create_user(args.name)
                except UserExists as error:
                    raise CliError(str(error), EXIT_CONFLICT) from None
                await enrollment_token(uid)
            case ("user", "enroll"):
                await enrollment_token(await user_id(args.name))
            case ("user", "list"):
                for uid, name in await store.list_users():
                    print(f"{uid}\t{name}")
            case ("device", "list"):
                for record in await store.list_devices(await user_id(args.user)):
                    match record.refusal(now_ms()):
                        case "revoked":
                            state = f"revoked {_when(record.revoked_ms or 0)}"
                        case "expired":
                            state = f"expired {_when(record.token_expires_ms or 0)}"
                        case _ if record.token_expires_ms is not None:
                            state = f"active until {_when(record.token_expires_ms)}"
                        case _:
                            state = "active"
                    print(f"{record.device}\t{record.name}\t{_when(record.created_ms)}\t{state}")
            case ("device", "revoke"):
                uid = await user_id(args.user)
                if not await store.revoke_device(uid, args.device, now_ms()):
                    known = {d.device for d in await store.list_devices(uid)}
                    if args.device in known:
                        raise CliError(f"device {args.device!r} is already revoked", EXIT_CONFLICT)
                    raise CliError(f"{args.user!r} has no device {args.device!r}", EXIT_NOT_FOUND)
                await notify_revocation(store, uid, args.device)
                print(f"revoked {args.user}/{args.device}", file=sys.stderr)
            case ("org", _):
                user = getattr(args, "user", None)
                await _org(args, await user_id(user) if user is not None else 0)
    return EXIT_OK


async def _org(args: argparse.Namespace, uid: int) -> None:
    """``org add|list``, ``org member add|remove ORG USER``, ``org admin add|remove ORG USER``."""
    from careerlog.server.connection import now_ms
    from careerlog.server.orgs import OrgExists, UnknownOrg, check_org_id, open_orgs
    from careerlog.server.store import StoreError

    if args.action == "list":
        async with await open_orgs(args.db or default_db_url()) as orgs:
            for org_id, members, admins in await orgs.orgs():
                print(f"{org_id}\t{members} members\t{admins} admins")
        return
    try:
        org = check_org_id(args.org)
    except StoreError as error:
        raise CliError(str(error), EXIT_USAGE) from None
    async with await open_orgs(args.db or default_db_url()) as orgs:
        if args.action == "add":
            try:
                await orgs.create_org(org, now_ms())
            except OrgExists as error:
                raise CliError(str(error), EXIT_CONFLICT) from None
            print(f"created organisation {org}", file=sys.stderr)
            return
        admin = args.action == "admin"
        role = "an admin" if admin else "a member"
        if args.role_action == "remove":
            if not await orgs.org_exists(org):
                raise CliError(f"no organisation {org!r}", EXIT_NOT_FOUND)
            if not await orgs.remove(org, uid, admin=admin):
                raise CliError(f"{args.user!r} is not {role} of {org}", EXIT_NOT_FOUND)
            print(f"{args.user} is no longer {role} of {org}", file=sys.stderr)
            return
        try:
            added = await orgs.add(org, uid, now_ms(), admin=admin)
        except UnknownOrg as error:
            raise CliError(str(error), EXIT_NOT_FOUND) from None
        if not added:
            raise CliError(f"{args.user!r} is already {role} of {org}", EXIT_CONFLICT)
        print(f"{args.user} is now {role} of {org}", file=sys.stderr)


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _redact(url: str) -> str:
    """The URL without a password, for messages."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.partition(":")[0]
    return f"{scheme}{sep}{user}@{host}"


if __name__ == "__main__":
    sys.exit(main())
