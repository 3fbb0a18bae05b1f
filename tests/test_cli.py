"""The catalog CLI (python -m chalicelib.cli): table, admins, idempotent all-or-nothing imports, exports."""
import csv
import io
import json
import os
import subprocess
import sys
import threading

import pytest

from chalicelib import admin, auth, cli, importer, keys, storage
from demo_data import demo_catalog

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CATALOG_JSON = """[
  {"id": 20, "title": "Alien", "duration_minutes": 117, "shows": [
    {"id": 200, "screen_name": "Screen 1", "date_time": "2031-05-01T18:00:00Z", "total_seats": 80},
    {"id": 201, "screen_name": "Screen 2", "date_time": "2031-05-02T18:00:00Z", "total_seats": 60}
  ]},
  {"id": 21, "title": "Aliens", "duration_minutes": 137, "shows": []}
]
"""
CATALOG_CSV = """movie_id,title,duration_minutes,show_id,screen_name,date_time,total_seats
20,Alien,117,200,Screen 1,2031-05-01T18:00:00Z,80
20,Alien,117,201,Screen 2,2031-05-02T18:00:00Z,60
21,Aliens,137,,,,
"""
EXPECTED_CREATED = ["movie 20", "show 200", "show 201", "movie 21"]


class TerminalInput(io.StringIO):
    """Standard input that is a terminal (the tests that use it replace getpass, which reads the tty)."""

    def isatty(self):
        return True


def run_cli(*argv, stdin="", terminal=False):
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), stdin=(TerminalInput if terminal else io.StringIO)(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def catalog_items():
    response = storage.client().query(
        TableName=storage.table_name(), KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues=storage.to_item({":pk": keys.MOVIES_PK}))
    return response["Items"]


def get(key):
    found = storage.client().get_item(TableName=storage.table_name(), Key=storage.to_item(key))
    return storage.from_item(found["Item"]) if "Item" in found else None


# --- create-table ----------------------------------------------------------------------------

def test_create_table_creates_it_once(aws, monkeypatch):
    monkeypatch.setenv("TABLE_NAME", os.environ["TABLE_NAME"])  # --table sets it for the process: restore it
    assert run_cli("--table", "another-table", "create-table")[:2] == (0, "table another-table: created\n")
    assert run_cli("--table", "another-table", "create-table")[:2] == (0, "table another-table: already exists\n")
    ttl = aws.describe_time_to_live(TableName="another-table")["TimeToLiveDescription"]
    assert ttl["AttributeName"] == storage.TTL_ATTRIBUTE


# --- create-admin ----------------------------------------------------------------------------

def test_create_admin_reads_the_password_from_stdin_and_the_admin_can_use_the_admin_api(api):
    code, out, err = run_cli("create-admin", "Boss", "--password-stdin", stdin="boss-password\n")
    assert (code, out) == (0, "created admin Boss\n")
    assert get(keys.user_key("boss"))["role"] == "admin"
    token = api.login("boss", "boss-password").data["access"]
    assert api.post("/movies", {"title": "Dune", "duration_minutes": 155}, token=token).status_code == 201


def test_create_admin_prompts_twice_for_the_password(aws, monkeypatch):
    answers = iter(["prompted-pass", "prompted-pass"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    assert run_cli("create-admin", "boss", terminal=True)[0] == 0
    assert auth.login("boss", "prompted-pass")["access"]


def test_create_admin_refuses_mismatched_prompted_passwords(aws, monkeypatch):
    answers = iter(["prompted-pass", "different-pass"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    code, _, err = run_cli("create-admin", "boss", terminal=True)
    assert code == 1 and "do not match" in err
    assert get(keys.user_key("boss")) is None


def _never_prompt(prompt):
    raise AssertionError("getpass must not be called without a terminal")


def test_create_admin_without_a_terminal_says_to_use_password_stdin_and_creates_nothing(aws, monkeypatch):
    monkeypatch.setattr("getpass.getpass", _never_prompt)
    code, out, err = run_cli("create-admin", "boss", stdin="boss-password\n")
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and err.startswith("error: ") and "--password-stdin" in err
    assert get(keys.user_key("boss")) is None


def test_create_admin_prompt_ended_by_end_of_input_says_to_use_password_stdin(aws, monkeypatch):
    def end_of_input(prompt):
        raise EOFError

    monkeypatch.setattr("getpass.getpass", end_of_input)
    code, out, err = run_cli("create-admin", "boss", terminal=True)
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and "end of input" in err and "--password-stdin" in err
    assert get(keys.user_key("boss")) is None


@pytest.mark.parametrize("password, message", [("", "no password"), ("short", "at least 6")])
def test_create_admin_refuses_a_missing_or_weak_password(aws, password, message):
    code, _, err = run_cli("create-admin", "boss", "--password-stdin", stdin=password + "\n")
    assert code == 1 and message in err
    assert get(keys.user_key("boss")) is None


def test_create_admin_never_takes_over_an_existing_account(aws):
    auth.create_user("alice", "alice-password")
    code, _, err = run_cli("create-admin", "alice", "--password-stdin", stdin="attacker-pass\n")
    assert code == 1 and "taken" in err
    assert get(keys.user_key("alice"))["role"] == "user"
    assert auth.login("alice", "alice-password")


def test_create_admin_promote_grants_admin_to_an_existing_account_only(aws):
    auth.create_user("alice", "alice-password")
    assert run_cli("create-admin", "alice", "--promote")[:2] == (0, "alice is now an admin\n")
    assert get(keys.user_key("alice"))["role"] == "admin"
    code, _, err = run_cli("create-admin", "nobody", "--promote")
    assert code == 1 and err.startswith("error:")


# --- import-catalog --------------------------------------------------------------------------

@pytest.mark.parametrize("name, text", [("catalog.json", CATALOG_JSON), ("catalog.csv", CATALOG_CSV)])
def test_import_creates_movies_and_shows_and_reports_them(aws, tmp_path, name, text):
    code, out, _ = run_cli("import-catalog", write(tmp_path, name, text))
    assert code == 0
    assert out.splitlines() == [f"created {label}" for label in EXPECTED_CREATED] + ["4 created, 0 skipped"]
    assert get(keys.movie_key(21))["title"] == "Aliens"
    show = get(keys.show_key(201))
    assert (show["movie_id"], show["total_seats"], show["date_time"]) == (20, 60, "2031-05-02T18:00:00Z")


def test_import_again_skips_everything_and_says_why(aws, tmp_path):
    path = write(tmp_path, "catalog.json", CATALOG_JSON)
    run_cli("import-catalog", path)
    code, out, _ = run_cli("import-catalog", path)
    assert code == 0
    assert out.splitlines() == [f"skipped {label}: already exists" for label in EXPECTED_CREATED] + [
        "0 created, 4 skipped"]


def test_import_never_overwrites_and_names_the_differing_fields(aws, tmp_path):
    run_cli("import-catalog", write(tmp_path, "catalog.csv", CATALOG_CSV))
    changed = CATALOG_CSV.replace("Aliens,137", "Aliens (director's cut),154").replace(",60\n", ",99\n")
    code, out, _ = run_cli("import-catalog", write(tmp_path, "changed.csv", changed))
    assert code == 0
    assert ("skipped movie 21: already exists with different title ('Aliens' in the table), "
            "duration_minutes (137 in the table); not overwritten") in out
    assert "skipped show 201: already exists with different total_seats (60 in the table); not overwritten" in out
    assert get(keys.movie_key(21))["title"] == "Aliens"


def test_import_reads_standard_input_with_an_explicit_format(aws):
    code, out, _ = run_cli("import-catalog", "-", "--format", "csv", stdin=CATALOG_CSV)
    assert code == 0 and out.endswith("4 created, 0 skipped\n")


def test_import_accepts_an_object_with_a_movies_list(aws, tmp_path):
    text = json.dumps({"movies": json.loads(CATALOG_JSON)})
    assert run_cli("import-catalog", write(tmp_path, "catalog.json", text))[0] == 0


def test_a_bad_json_row_is_reported_with_its_line_and_nothing_is_imported(aws, tmp_path):
    bad = CATALOG_JSON.replace('"total_seats": 60', '"total_seats": "sixty"')
    code, out, err = run_cli("import-catalog", write(tmp_path, "catalog.json", bad))
    assert code == 1 and out == ""
    assert "nothing was imported" in err
    assert "line 4: show 201: total_seats must be an integer from 1 to 1000." in err
    assert catalog_items() == [] and get(keys.show_key(200)) is None


def test_a_bad_csv_row_is_reported_with_its_line_and_nothing_is_imported(aws, tmp_path):
    bad = CATALOG_CSV.replace("2031-05-02T18:00:00Z", "2031-05-02 18:00")
    code, _, err = run_cli("import-catalog", write(tmp_path, "catalog.csv", bad))
    assert code == 1
    assert "line 3: show 201: date_time must be ISO 8601 with a time zone" in err
    assert catalog_items() == [] and get(keys.show_key(200)) is None


def test_every_bad_row_is_reported_at_once(aws, tmp_path):
    bad = CATALOG_CSV.replace("Screen 1,", ",").replace("21,Aliens,137", "21,Aliens,1.5")
    code, _, err = run_cli("import-catalog", write(tmp_path, "catalog.csv", bad))
    assert code == 1
    assert "2 problem(s)" in err
    assert "line 2: show 200: screen_name" in err and "line 4: movie 21: duration_minutes" in err


@pytest.mark.parametrize("text, message", [
    (CATALOG_CSV + "20,Alien 2,117,202,Screen 1,2031-05-03T18:00:00Z,80\n",
     "line 5: movie 20: title or duration_minutes differ from line 2"),
    (CATALOG_CSV + "21,Aliens,137,200,Screen 1,2031-05-03T18:00:00Z,80\n",
     "line 5: show 200 is also defined at line 2"),
    (CATALOG_CSV + "22,Solaris,167,x7,Screen 1,2031-05-03T18:00:00Z,80\n", "line 5: show: show id must be"),
    (CATALOG_CSV + "0,Solaris,167,,,,\n", "line 5: movie 0: movie id must be an integer from 1 to 99999999"),
    (CATALOG_CSV + "22,Solaris\n", "line 5: expected 7 columns"),
    ("id,title\n1,Alien\n", "line 1: the header lacks column(s) movie_id, duration_minutes, show_id"),
])
def test_inconsistent_csv_rows_are_bad_rows(aws, tmp_path, text, message):
    code, _, err = run_cli("import-catalog", write(tmp_path, "catalog.csv", text))
    assert code == 1 and message in err
    assert catalog_items() == []


@pytest.mark.parametrize("text, message", [
    ('[{"id": 1, "title": "Alien",\n "duration_minutes": 117,}]', "line 2: not valid JSON"),
    ('{"id": 1}', "line 1: expected a JSON array of movies"),
    ('[{"id": 1, "title": "Alien", "duration_minutes": 117, "shows": {}}]', "line 1: movie 1: shows must be a list"),
    ('[\n  "Alien"\n]', "movies[0]: expected a movie object"),
    ('[{"id": 1.0, "title": "Alien", "duration_minutes": 117}]', "line 1: movie: movie id must be an integer"),
    ('[{"id": true, "title": "Alien", "duration_minutes": 117}]', "line 1: movie: movie id must be an integer"),
])
def test_malformed_json_is_reported_with_its_line(aws, tmp_path, text, message):
    code, _, err = run_cli("import-catalog", write(tmp_path, "catalog.json", text))
    assert code == 1 and message in err
    assert catalog_items() == []


def test_import_needs_a_known_format_and_a_readable_file(aws, tmp_path):
    code, _, err = run_cli("import-catalog", write(tmp_path, "catalog.txt", CATALOG_CSV))
    assert code == 1 and "--format" in err
    code, _, err = run_cli("import-catalog", str(tmp_path / "missing.json"))
    assert code == 1 and "cannot read" in err


def test_ids_created_after_an_import_do_not_collide_with_imported_ids(aws, tmp_path):
    run_cli("import-catalog", write(tmp_path, "catalog.json", CATALOG_JSON))
    assert admin.create_movie({"title": "Dune", "duration_minutes": 155})["id"] == 22
    show = admin.create_show(22, {"screen_name": "S", "date_time": "2031-06-01T18:00:00Z", "total_seats": 9})
    assert show["id"] == 202


def test_demo_data_goes_through_the_same_import_and_is_idempotent(aws):
    first = importer.import_catalog(demo_catalog())
    assert len(first["created"]) == 14 and first["skipped"] == []
    again = importer.import_catalog(demo_catalog())
    assert again["created"] == [] and len(again["skipped"]) == 14
    assert admin.next_id(admin.MOVIE_COUNTER) == 5 and admin.next_id(admin.SHOW_COUNTER) == 11


def test_run_local_loads_the_demo_data_through_the_importer():
    with open(os.path.join(ROOT, "scripts", "run_local.py"), encoding="utf-8") as handle:
        assert "importer.import_catalog(demo_catalog())" in handle.read()


# --- export-bookings -------------------------------------------------------------------------

@pytest.fixture
def booked_show(api, demo):
    alice, bob = api.token_for("alice"), api.token_for("bob")
    first = api.post("/shows/1/book", {"seat_number": 7}, token=alice).data
    api.post(f"/bookings/{first['id']}/cancel", token=alice)
    second = api.post("/shows/1/book", {"seat_number": 8}, token=bob).data
    return {first["id"]: ("alice", "cancelled", 7), second["id"]: ("bob", "booked", 8)}


def test_export_bookings_writes_csv_with_owners_and_statuses(booked_show):
    code, out, err = run_cli("export-bookings", "1")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == list(cli.EXPORT_COLUMNS)
    assert {r["id"]: (r["user"], r["status"], int(r["seat_number"])) for r in rows} == booked_show
    assert "2 booking(s) of show 1" in err


def test_export_bookings_writes_json(booked_show):
    code, out, _ = run_cli("export-bookings", "1", "--format", "json")
    assert code == 0
    assert {b["id"]: (b["user"], b["status"], b["seat_number"]) for b in json.loads(out)} == booked_show


def test_export_bookings_of_an_unknown_show_fails(aws):
    assert run_cli("export-bookings", "99")[0] == 1
    assert run_cli("export-bookings", "abc")[0] == 1


# --- the console command, against a local endpoint -------------------------------------------

@pytest.fixture
def local_endpoint():
    """scripts/local_dynamodb.py's server (moto, serialised) on a free port, in a thread."""
    from local_dynamodb import make_local_server

    server = make_local_server("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_console_command_works_against_a_local_endpoint(local_endpoint, tmp_path):
    env = {**os.environ, "TABLE_NAME": "cli-e2e", "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
           "AWS_SESSION_TOKEN": "local", "AWS_DEFAULT_REGION": "us-east-1", "STAGE": "local"}
    env.pop("AWS_ENDPOINT_URL_DYNAMODB", None)

    def command(*args, stdin=""):
        return subprocess.run([sys.executable, "-m", "chalicelib.cli", "--endpoint-url", local_endpoint, *args],
                              cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=60)

    assert command("create-table").stdout == "table cli-e2e: created\n"
    imported = command("import-catalog", write(tmp_path, "catalog.csv", CATALOG_CSV))
    assert imported.returncode == 0 and "4 created, 0 skipped" in imported.stdout
    assert command("create-admin", "boss", "--password-stdin", stdin="boss-password\n").returncode == 0
    exported = command("export-bookings", "200")
    assert (exported.returncode, exported.stdout) == (0, ",".join(cli.EXPORT_COLUMNS) + "\n")
    assert command("--help").stdout.startswith("usage: python -m chalicelib.cli")
    assert command("no-such-command").returncode == 2


def test_create_admin_with_piped_input_in_a_real_process_says_to_use_password_stdin(local_endpoint):
    env = {**os.environ, "TABLE_NAME": "cli-pipe", "STAGE": "local"}

    def command(*args, **kwargs):
        return subprocess.run([sys.executable, "-m", "chalicelib.cli", "--endpoint-url", local_endpoint, *args],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, **kwargs)

    assert command("create-table").returncode == 0
    for stdin in ({"input": "boss-password\n"}, {"input": ""}, {"stdin": subprocess.DEVNULL}):
        refused = command("create-admin", "boss", **stdin)
        assert (refused.returncode, refused.stdout) == (1, ""), stdin
        assert refused.stderr == ("error: standard input is not a terminal, so there is no prompt: "
                                  "pipe the password in with --password-stdin\n"), stdin
    # Nothing was created: the name is still free for the command the message points to.
    assert command("create-admin", "boss", "--password-stdin", input="boss-password\n").returncode == 0


# The CLI in a new session whose controlling terminal is the pty, as when a user runs it in a terminal.
IN_TERMINAL = ("import fcntl, runpy, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
               "sys.argv[0] = 'chalicelib.cli'; runpy.run_module('chalicelib.cli', run_name='__main__')")


def test_create_admin_prompt_closed_with_ctrl_d_in_a_real_terminal_says_to_use_password_stdin():
    import pty
    import select

    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen([sys.executable, "-c", IN_TERMINAL, "create-admin", "boss"], cwd=ROOT,
                                   stdin=follower, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   start_new_session=True)
        os.close(follower)
        shown = b""
        while b"Password: " not in shown:  # getpass flushes typed-ahead input before it prompts
            assert select.select([leader], [], [], 30)[0], f"no prompt on the terminal: {shown!r}"
            shown += os.read(leader, 100)
        os.write(leader, b"\x04")  # Ctrl-D on an empty line: end of input
        out, err = process.communicate(timeout=60)
    finally:
        os.close(leader)
    assert (process.returncode, out) == (1, "")
    assert err == ("error: no password typed (end of input): type it at the prompt, "
                   "or pipe it in with --password-stdin\n")
