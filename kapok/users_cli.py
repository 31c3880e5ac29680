"""``python app.py users add|remove|passwd|list|unlock``: manage the dashboard's users in the Redis that
``RK_REDIS_URL`` (or the settings file) names. Passwords come from standard input only (a command
line is visible to every local user and kept in shell history)."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TextIO

from kapok.errors import ConfigError
from kapok.settings import Settings
from metrics.users import ROLES


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """Add the ``users`` command group to the top-level subparsers."""
    users = sub.add_parser("users", help="manage dashboard users (in the Redis RK_REDIS_URL names)")
    actions = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add a user")
    add.add_argument("name", help="user name: lower-case letters, digits, ._@-")
    add.add_argument("--role", required=True, choices=ROLES, help="what the user may do")
    add.add_argument("--district", action="append", default=[], metavar="CODE",
                     help="limit the user to this district (6-digit code); repeat for several")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    passwd = actions.add_parser("passwd", help="set a user's password (ends their sessions)")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    remove = actions.add_parser("remove", help="remove a user (ends their sessions)")
    remove.add_argument("name")
    actions.add_parser("list", help="list users, roles and district scopes")
    unlock = actions.add_parser("unlock", help="clear a user's failed-login lock-out")
    unlock.add_argument("name")
    return users


def _password(args: argparse.Namespace, stdin: TextIO) -> str:
    if not args.password_stdin:
        raise ConfigError("pass --password-stdin and pipe the password in (e.g. from a secrets file): "
                          "passwords are not taken as arguments")
    line = stdin.readline()
    if not line:
        raise ConfigError("--password-stdin: standard input was empty")
    return line.rstrip("\r\n")


def cmd_users(args: argparse.Namespace, settings: Settings, *, stdin: TextIO | None = None,
              stdout: TextIO | None = None) -> int:
    """Run one ``users`` action; errors raise (the CLI prints them as one line)."""
    from metrics.audit import AuditLog
    from metrics.connect import make_redis
    from metrics.keys import Keys
    from metrics.users import LoginThrottle, UserStore

    stdin = stdin or sys.stdin
    out = stdout or sys.stdout
    client = make_redis(settings)
    keys = Keys(settings.key_prefix)
    users = UserStore(client, keys, time_cost=settings.password_hash_time_cost,
                      memory_kib=settings.password_hash_memory_kib)
    audit_log = AuditLog(client, keys, retention_days=settings.audit_retention_days)
    who = {"user": f"cli:{getpass.getuser()}", "ip": "local"}
    action = args.users_command
    try:
        if action == "add":
            user = users.add(args.name, args.role, _password(args, stdin), args.district)
            audit_log.append("user.add", {**who, "target": user.name, "role": user.role,
                                          "districts": ",".join(user.districts)})
            scope = ", ".join(user.districts) or "all districts"
            print(f"added {user.name} ({user.role}; {scope})", file=out)
        elif action == "passwd":
            users.set_password(args.name, _password(args, stdin))
            audit_log.append("user.passwd", {**who, "target": args.name})
            print(f"password of {args.name} changed; their sessions ended", file=out)
        elif action == "remove":
            users.remove(args.name)
            audit_log.append("user.remove", {**who, "target": args.name})
            print(f"removed {args.name}; their sessions ended", file=out)
        elif action == "unlock":
            throttle = LoginThrottle(client, keys, max_user_failures=settings.login_max_failures,
                                     max_ip_failures=settings.login_ip_max_failures,
                                     lockout_s=settings.login_lockout_s)
            cleared = throttle.unlock(args.name)
            audit_log.append("user.unlock", {**who, "target": args.name})
            print(f"{args.name}: {'lock-out cleared' if cleared else 'was not locked'}", file=out)
        else:
            listed = users.list()
            for user in listed:
                print(f"{user.name}\t{user.role}\t{','.join(user.districts) or '*'}", file=out)
            if not listed:
                print("no users: add one with `users add NAME --role admin --password-stdin`",
                      file=sys.stderr)
    finally:
        client.close()
    return 0
