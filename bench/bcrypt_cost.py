"""How long one bcrypt hash takes at each cost factor on this machine, and what that means on Lambda.

    .venv/bin/python bench/bcrypt_cost.py [--costs 8-14] [--repeat 5]

Prints a Markdown table (docs/deploy.md quotes it). Lambda allocates CPU in proportion to memory:
1,769 MB is one full vCPU, so a single-threaded hash at M MB takes about t * 1769 / M (M < 1769).
The Lambda columns are that estimate, not a measurement.
"""
import argparse
import os
import platform
import statistics
import time

import bcrypt

FULL_VCPU_MB = 1769
LAMBDA_MEMORY_MB = (128, 512, 1024, 1769)


def hash_seconds(cost, repeat):
    """Median wall time of ``repeat`` hashes at ``cost`` (one warm-up hash first)."""
    salt = bcrypt.gensalt(cost)
    bcrypt.hashpw(b"warm-up", salt)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        bcrypt.hashpw(b"correct horse battery staple", bcrypt.gensalt(cost))
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def parse_costs(text):
    low, _, high = text.partition("-")
    return range(int(low), int(high or low) + 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--costs", default="8-14", help="range of cost factors, e.g. 10-13")
    parser.add_argument("--repeat", type=int, default=5, help="hashes per cost (median is reported)")
    args = parser.parse_args()

    print(f"bcrypt {bcrypt.__version__}, Python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} cores; median of {args.repeat} hashes per cost\n")
    header = ["cost", "here (ms)"] + [f"Lambda {mb} MB (est. ms)" for mb in LAMBDA_MEMORY_MB]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---:" for _ in header) + "|")
    for cost in parse_costs(args.costs):
        ms = hash_seconds(cost, args.repeat) * 1000
        estimates = [ms * max(1.0, FULL_VCPU_MB / mb) for mb in LAMBDA_MEMORY_MB]
        print("| " + " | ".join([str(cost), f"{ms:,.0f}"] + [f"{e:,.0f}" for e in estimates]) + " |")


if __name__ == "__main__":
    main()
