"""Cold-start proxies: the time to import ``app`` (python -X importtime) and the deployment package.

- Import time in the dev venv, and in the unpacked deployment.zip with ``python -S`` (no
  site-packages: only what Lambda would have, plus the standard library; boto3 comes from the Lambda
  runtime but the app imports it lazily, on the first DynamoDB call). The first run of each is
  discarded (it compiles bytecode); the median of the rest is reported.
- The first request also pays for importing boto3 and making the DynamoDB client: measured too.
- ``chalice package --stage dev`` into a temporary directory; deployment.zip size and what is in it.

Standalone: ``.venv/bin/python bench/coldstart.py [--json]``.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import zipfile

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
IMPORTTIME_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")

IMPORT_TARGET_MS = 300
ZIP_TARGET_BYTES = 3 * 1024 * 1024


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON"))}
    env.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local",
               AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull, STAGE="local")
    env.update(extra)
    return env


def parse_importtime(stderr, module="app"):
    """(total ms for ``module``, by-package self ms, direct imports' cumulative ms) from -X importtime."""
    rows = []
    for line in stderr.splitlines():
        match = IMPORTTIME_LINE.match(line)
        if match:
            self_us, cumulative_us, indent, name = match.groups()
            rows.append((int(self_us), int(cumulative_us), (len(indent) - 1) // 2, name))
    # importtime prints children before their parent; the module's subtree is every line since the
    # previous top-level line, up to the module's own top-level line.
    end = max(i for i, row in enumerate(rows) if row[3] == module and row[2] == 0)
    start = max([i for i in range(end) if rows[i][2] == 0] + [-1]) + 1
    subtree = rows[start:end + 1]
    by_package = {}
    for self_us, _, _, name in subtree:
        top = name.split(".")[0]
        by_package[top] = by_package.get(top, 0) + self_us
    direct = [(name, cumulative / 1000) for _, cumulative, level, name in subtree if level == 1]
    return (rows[end][1] / 1000,
            sorted(((k, v / 1000) for k, v in by_package.items()), key=lambda kv: -kv[1]),
            sorted(direct, key=lambda kv: -kv[1]))


def import_app(cwd, runs, isolated=False, env=None):
    """Median import time of ``app`` over ``runs`` runs (after one discarded warm-up run)."""
    cmd = [sys.executable] + (["-S"] if isolated else []) + ["-X", "importtime", "-c", "import app"]
    samples, last = [], None
    for i in range(runs + 1):
        result = subprocess.run(cmd, cwd=cwd, env=env or clean_env(), capture_output=True, text=True, check=True)
        parsed = parse_importtime(result.stderr)
        if i:
            samples.append(parsed[0])
            last = parsed
    median = statistics.median(samples)
    return {"median_ms": round(median, 1), "min_ms": round(min(samples), 1), "max_ms": round(max(samples), 1),
            "runs": runs, "by_package_ms": [(k, round(v, 1)) for k, v in last[1][:10]],
            "direct_imports_ms": [(k, round(v, 1)) for k, v in last[2][:8]]}


def wall_import_ms(cwd, runs, isolated=False):
    """Import time of ``app`` measured inside the interpreter, without importtime's own overhead."""
    code = "import time; t = time.perf_counter(); import app; print((time.perf_counter() - t) * 1000)"
    cmd = [sys.executable] + (["-S"] if isolated else []) + ["-c", code]
    samples = [float(subprocess.run(cmd, cwd=cwd, env=clean_env(), capture_output=True, text=True,
                                    check=True).stdout) for _ in range(runs + 1)][1:]
    return round(statistics.median(samples), 1)


def first_call_ms(runs):
    """Importing boto3 and creating the DynamoDB client: paid by the first request of a cold Lambda."""
    code = ("import time; t = time.perf_counter(); import boto3; "
            "boto3.client('dynamodb', region_name='us-east-1'); print((time.perf_counter() - t) * 1000)")
    samples = [float(subprocess.run([sys.executable, "-c", code], env=clean_env(), capture_output=True,
                                    text=True, check=True).stdout) for _ in range(runs + 1)][1:]
    return round(statistics.median(samples), 1)


def package(workdir):
    """Build deployment.zip; returns (zip path, command used, seconds it took).

    ``make package`` (the real build: docs assets, merged SAM template, lint) when the Makefile has
    it, into a temporary BUILD_DIR; otherwise, or if it fails, ``chalice package --stage dev``.
    """
    import time

    attempts = []
    if has_make_package():
        build = os.path.join(workdir, "build")
        attempts.append((["make", "--no-print-directory", "package", f"BUILD_DIR={build}", "STAGE=dev"],
                         os.path.join(build, "dev", "deployment.zip")))
    chalice = os.path.join(os.path.dirname(sys.executable), "chalice")
    out = os.path.join(workdir, "package")
    attempts.append(([chalice, "package", "--stage", "dev", out], os.path.join(out, "deployment.zip")))
    failures = []
    for cmd, zip_path in attempts:
        started = time.perf_counter()
        result = subprocess.run(cmd, cwd=ROOT, env=clean_env(), capture_output=True, text=True)
        if result.returncode == 0 and os.path.exists(zip_path):
            shown = " ".join("BUILD_DIR=<tmpdir>" if a.startswith("BUILD_DIR=") else
                             "<tmpdir>" if a == out else os.path.basename(a) if a == chalice else a for a in cmd)
            return zip_path, shown, time.perf_counter() - started, failures
        failures.append(f"{' '.join(cmd[:3])}: exit {result.returncode}: {(result.stderr or result.stdout)[-300:]}")
    raise RuntimeError("packaging failed:\n" + "\n".join(failures))


def zip_breakdown(path):
    """Compressed bytes per top-level entry of the zip (chalicelib per subfolder), largest first."""
    sizes = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            parts = info.filename.split("/")
            top = "/".join(parts[:2]) if parts[0] == "chalicelib" and len(parts) > 2 else parts[0]
            sizes[top] = sizes.get(top, 0) + info.compress_size
        count = len(archive.infolist())
    return sorted(sizes.items(), key=lambda kv: -kv[1]), count


def has_make_package():
    with open(os.path.join(ROOT, "Makefile")) as f:
        return any(line.startswith("package:") for line in f)


def run(runs=7):
    results = {"import_target_ms": IMPORT_TARGET_MS, "zip_target_bytes": ZIP_TARGET_BYTES}
    results["venv_import"] = import_app(ROOT, runs)
    results["venv_import_wall_ms"] = wall_import_ms(ROOT, runs)
    results["first_dynamodb_call_ms"] = first_call_ms(max(3, runs // 2))
    with tempfile.TemporaryDirectory(prefix="movie-booking-package-") as workdir:
        zip_path, command, seconds, failures = package(workdir)
        size = os.path.getsize(zip_path)
        breakdown, count = zip_breakdown(zip_path)
        unpacked = os.path.join(workdir, "unpacked")
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(unpacked)
        results["package"] = {
            "command": command, "failed_attempts": failures,
            "zip_bytes": size, "files": count, "seconds": round(seconds, 1),
            "breakdown_bytes": breakdown[:10]}
        results["packaged_import"] = import_app(unpacked, runs, isolated=True)
        results["packaged_import_wall_ms"] = wall_import_ms(unpacked, runs, isolated=True)
    results["import_pass"] = results["venv_import"]["median_ms"] < IMPORT_TARGET_MS
    results["zip_pass"] = size < ZIP_TARGET_BYTES
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    json.dump(run(args.runs), sys.stdout, indent=None if args.json else 1)
    print()


if __name__ == "__main__":
    main()
