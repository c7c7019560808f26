"""
Guest-token latency against a real local Superset: the plugin's cached-login client next to a
client that logs in for every token (what upstream did), measured in the same run.

    .venv/bin/python benchmarks/guest_token.py [--requests 200] [--superset-url http://127.0.0.1:8088/]

Without --superset-url it starts Superset from var/superset-venv (`make superset-venv`) with its
metadata in var/superset-bench (initialised on first use, ~40 s), and stops it at the end.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# pylint: disable=wrong-import-position
from benchmarks.stats import percentile  # noqa: E402
from devstack.local_superset import ADMIN_PASSWORD, ADMIN_USERNAME, LocalSuperset  # noqa: E402
from platform_plugin_aspects.superset.client import SupersetClient  # noqa: E402
from platform_plugin_aspects.superset.rls import DEFAULT_CLAUSE_TEMPLATES, render_clause  # noqa: E402

VALUES = {"course_id": "course-v1:OrgA+Stats101+2026", "org": "OrgA", "user_id": 42, "username": "course_staff"}
GUEST = {"username": "course_staff", "first_name": "Ada", "last_name": "Staff"}


def embedded_dashboard_uuid(client):
    """Create an embeddable dashboard (so the token request is a realistic one)."""
    response = client.request("POST", "api/v1/dashboard/", json={"dashboard_title": "benchmark", "published": True})
    response.raise_for_status()
    dashboard_id = response.json()["id"]
    response = client.request("POST", f"api/v1/dashboard/{dashboard_id}/embedded", json={"allowed_domains": []})
    response.raise_for_status()
    return response.json()["result"]["uuid"]


def measure(make_client, count, resources, rls):
    """Milliseconds per guest token, one sample per request."""
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        make_client().guest_token(GUEST, resources, rls)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def summary(name, samples):
    """One table row: p50, p95, mean."""
    ordered = sorted(samples)
    p95 = percentile(ordered, 0.95)
    median, mean = statistics.median(ordered), statistics.fmean(ordered)
    return f"{name:<28} {len(samples):>5} {median:>9.1f} {p95:>9.1f} {mean:>9.1f}"


def main(argv=None):
    """Run both clients against the same Superset and print their latency figures."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--superset-url")
    args = parser.parse_args(argv)

    server = None
    url = args.superset_url
    if not url:
        server = LocalSuperset(ROOT / "var" / "superset-bench", ROOT / "var" / "superset-venv")
        url = server.start()
    try:
        cached = SupersetClient(url, ADMIN_USERNAME, ADMIN_PASSWORD)
        resources = [{"type": "dashboard", "id": embedded_dashboard_uuid(cached)}]
        rls = [{"clause": render_clause(t, VALUES)} for t in DEFAULT_CLAUSE_TEMPLATES]
        measure(lambda: cached, 5, resources, rls)  # warm-up: login, connection pool, Superset caches
        per_request = measure(lambda: SupersetClient(url, ADMIN_USERNAME, ADMIN_PASSWORD), args.requests,
                              resources, rls)
        reused = measure(lambda: cached, args.requests, resources, rls)
    finally:
        if server:
            server.stop()

    print(f"Superset {url} — guest-token latency in ms ({args.requests} sequential requests each)")
    print(f"{'client':<28} {'n':>5} {'p50':>9} {'p95':>9} {'mean':>9}")
    print(summary("cached login (plugin)", reused))
    print(summary("login per request", per_request))
    print(f"cached login logged in {cached.logins} time(s); p50 speed-up "
          f"x{statistics.median(per_request) / statistics.median(reused):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
