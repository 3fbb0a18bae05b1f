"""Operator commands for the booking table, local or on AWS: ``python -m chalicelib.cli COMMAND``.

    create-table                      create the table (local endpoints; on AWS the stack creates it)
    create-admin USERNAME             a new admin account (password prompted at a terminal, or --password-stdin);
                                      --promote grants admin to an existing account instead
    import-catalog FILE               movies and shows from a .json or .csv file (idempotent)
    export-bookings SHOW_ID           every booking of a show as CSV (default) or JSON, to stdout
    create-staff USERNAME             a new door-staff account (checks tickets in); --promote, --password-stdin
                                      as for create-admin (which also takes --role staff)
    new-ticket-keys [--rotate FILE]   print a ticket signing key ring (JSON) for the SSM parameter; with
                                      --rotate, a new current key and the old ones kept for verifying

The standard AWS settings apply (AWS_PROFILE, AWS_REGION / AWS_DEFAULT_REGION, credentials);
AWS_ENDPOINT_URL_DYNAMODB (or --endpoint-url) points at a local endpoint such as `make run`'s;
TABLE_NAME (or --table) names the table. Exit status: 0 done, 1 refused or failed, 2 usage.
"""
import argparse
import csv
import getpass
import json
import os
import sys

EXPORT_COLUMNS = ("id", "show", "movie_id", "seat_number", "status", "created_at", "cancelled_at", "user",
                  "group_id")
EXPORT_PAGE = 100


class CommandError(Exception):
    """A refusal to show the operator as one line on stderr (exit status 1)."""


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m chalicelib.cli", description="Operator commands for the movie-booking table.",
        epilog="AWS settings come from the usual AWS_* variables and profiles.")
    parser.add_argument("--table", help="table name (default: $TABLE_NAME or movie-booking)")
    parser.add_argument("--endpoint-url", help="DynamoDB endpoint, e.g. http://127.0.0.1:8001 "
                                               "(default: $AWS_ENDPOINT_URL_DYNAMODB or AWS)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("create-table", help="create the table with its index and TTL, unless it exists")

    for name, role, what in (("create-admin", "admin", "an admin account"),
                             ("create-staff", "staff", "a door-staff account (checks tickets in)")):
        account = commands.add_parser(name, help=f"create {what}")
        account.add_argument("username")
        account.add_argument("--password-stdin", action="store_true",
                             help="read the password from the first line of standard input instead of prompting")
        account.add_argument("--promote", action="store_true",
                             help=f"grant {role} to an existing account (its password is left unchanged)")
        if role == "admin":
            account.add_argument("--role", choices=("admin", "staff"), default="admin",
                                 help="the role to grant: admin (default) or staff (door check-in only)")
        else:
            account.set_defaults(role="staff")

    keyring = commands.add_parser("new-ticket-keys", help="print a new ticket signing key ring (JSON)")
    keyring.add_argument("--rotate", metavar="FILE",
                         help="the current key ring (- for standard input): its keys stay listed for verifying")
    keyring.add_argument("--retire-previous", action="store_true",
                         help="with --rotate: stop accepting tickets signed with the previous current key")

    importer = commands.add_parser("import-catalog", help="import movies and shows from a JSON or CSV file")
    importer.add_argument("file", help="path of the catalog file, or - for standard input")
    importer.add_argument("--format", choices=("json", "csv"),
                          help="file format (default: from the file name's extension)")

    export = commands.add_parser("export-bookings", help="write a show's bookings to standard output")
    export.add_argument("show_id")
    export.add_argument("--format", choices=("csv", "json"), default="csv")
    return parser


def main(argv=None, stdin=None, stdout=None, stderr=None):
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    args = build_parser().parse_args(argv)
    _apply_connection_options(args)
    from botocore.exceptions import BotoCoreError, ClientError

    from chalicelib.errors import BookingAPIError  # after the options: settings are read on first use

    try:
        return COMMANDS[args.command](args, stdin, stdout, stderr)
    except CommandError as exc:
        print(f"error: {exc}", file=stderr)
    except BookingAPIError as exc:
        print(f"error: {exc.message}", file=stderr)
        for problem in getattr(exc, "problems", []):
            print(f"  {problem}", file=stderr)
    except (BotoCoreError, ClientError) as exc:  # no credentials, endpoint down, access denied, ...
        print(f"error: {exc}", file=stderr)
    return 1


def _apply_connection_options(args):
    from chalicelib import settings, storage

    if args.table:
        os.environ["TABLE_NAME"] = args.table
    if args.endpoint_url:
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = args.endpoint_url
    if args.table or args.endpoint_url:
        settings.reset()
        storage.reset()


def create_table(args, stdin, stdout, stderr):
    from chalicelib import storage

    created = storage.create_table()
    print(f"table {storage.table_name()}: {'created' if created else 'already exists'}", file=stdout)
    return 0


def create_admin(args, stdin, stdout, stderr):
    from chalicelib import auth

    role = auth.ROLE_STAFF if getattr(args, "role", "admin") == "staff" else auth.ROLE_ADMIN
    noun = "door staff" if role == auth.ROLE_STAFF else "an admin"
    if args.promote:
        auth.set_role(args.username, role)
        print(f"{args.username} is now {noun}", file=stdout)
        return 0
    password = _read_password(args, stdin)
    user = auth.create_user(args.username, password, role=role)
    print(f"created {'staff' if role == auth.ROLE_STAFF else 'admin'} {user['username']}", file=stdout)
    return 0


def new_ticket_keys(args, stdin, stdout, stderr):
    from chalicelib import ticket_keys

    current = None
    if args.rotate:
        try:
            if args.rotate == "-":
                current = stdin.read()
            else:
                with open(args.rotate, encoding="utf-8") as source:
                    current = source.read()
        except OSError as exc:
            raise CommandError(f"cannot read {args.rotate}: {exc}")
    elif args.retire_previous:
        raise CommandError("--retire-previous needs --rotate FILE")
    print(ticket_keys.new_keyring(current, keep_previous=not args.retire_previous), file=stdout)
    return 0


def _read_password(args, stdin):
    if args.password_stdin:
        password = (stdin.readline() if stdin else "").rstrip("\r\n")
        if not password:
            raise CommandError("no password on standard input")
        return password
    if not _is_terminal(stdin):  # piped or redirected: getpass would read the pipe, or die on its end
        raise CommandError("standard input is not a terminal, so there is no prompt: "
                           "pipe the password in with --password-stdin")
    try:
        password = getpass.getpass("Password: ")
        again = getpass.getpass("Password (again): ")
    except EOFError:
        raise CommandError("no password typed (end of input): type it at the prompt, "
                           "or pipe it in with --password-stdin")
    if again != password:
        raise CommandError("the passwords do not match")
    return password


def _is_terminal(stream):
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or closed
        return False


def import_catalog(args, stdin, stdout, stderr):
    from chalicelib import importer

    fmt = args.format or _format_of(args.file)
    try:
        if args.file == "-":
            text = stdin.read()
        else:
            with open(args.file, encoding="utf-8-sig") as source:  # -sig: spreadsheets write a BOM
                text = source.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read {args.file}: {exc}")
    report = importer.import_catalog(importer.parse(text, fmt))
    for label in report["created"]:
        print(f"created {label}", file=stdout)
    for skipped in report["skipped"]:
        print(f"skipped {skipped['item']}: {skipped['reason']}", file=stdout)
    print(f"{len(report['created'])} created, {len(report['skipped'])} skipped", file=stdout)
    return 0


def _format_of(path):
    extension = os.path.splitext(path)[1].lower().lstrip(".")
    if extension not in ("json", "csv"):
        raise CommandError(f"cannot tell the format of {path!r}: name it .json or .csv, or pass --format")
    return extension


def export_bookings(args, stdin, stdout, stderr):
    from chalicelib import bookings

    if not (args.show_id.isascii() and args.show_id.isdigit() and 0 < int(args.show_id) < 10 ** 9):
        raise CommandError(f"SHOW_ID must be a positive whole number, not {args.show_id!r}")
    show_id = int(args.show_id)
    rows, cursor = [], None
    while True:
        page, cursor = bookings.show_bookings(show_id, EXPORT_PAGE, cursor)
        rows.extend(page)
        if not cursor:
            break
    if args.format == "json":
        json.dump(rows, stdout, indent=2)
        stdout.write("\n")
    else:
        writer = csv.DictWriter(stdout, fieldnames=EXPORT_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} booking(s) of show {show_id}", file=stderr)
    return 0


COMMANDS = {
    "create-table": create_table,
    "create-admin": create_admin,
    "create-staff": create_admin,
    "new-ticket-keys": new_ticket_keys,
    "import-catalog": import_catalog,
    "export-bookings": export_bookings,
}


if __name__ == "__main__":
    sys.exit(main())
