"""
The shipped dashboards answer with the right rows: the chart-data API of a REAL Superset 6.1 called
with guest tokens the plugin issued, over two synthetic courses in the real ClickHouse, compared
with the figures computed by hand and with the analytics query module.
"""

import pytest
import requests
from django.test import Client

from platform_plugin_aspects import analytics

from .superset_chart_data import GUEST_HEADER, chart_data, dashboard_charts, query_context, rows
from .superset_fixtures import *  # noqa: F401,F403  pylint: disable=wildcard-import,unused-wildcard-import

pytestmark = pytest.mark.django_db

NAME_COLUMNS = {"username", "name", "email"}


def token_for(user, course_key=COURSE):
    client = Client()
    client.force_login(user)
    response = client.get(f"/aspects/superset_guest_token/{course_key}/")
    assert response.status_code == 200, response.content
    return response.json()["guestToken"]


def chart_rows(superset, token, dashboard_id, slice_name=None, columns=None):
    """``{slice name: rows}`` of a dashboard's charts (or raw ``columns`` of each chart's dataset)."""
    found = {}
    for _, name, form_data in dashboard_charts(superset, dashboard_id, token):
        if slice_name and name != slice_name:
            continue
        query = None
        if columns:
            query = {"columns": columns, "metrics": [], "filters": [], "extras": {"where": "", "having": ""},
                     "orderby": [], "row_limit": 100000}
        found[name] = rows(chart_data(superset, token, form_data, dashboard_id, query=query, force=True))
    return found


def test_every_course_dashboard_chart_answers_for_the_tokens_course_only(superset, shipped, users, courses_data):
    token = token_for(users["course_staff"])
    charts = chart_rows(superset, token, shipped["course"])
    assert len(charts) == 10
    assert all(charts.values()), [name for name, data in charts.items() if not data]  # no chart without data

    raw = chart_rows(superset, token, shipped["course"], columns=["org", "course_key"])
    for name, data in raw.items():
        assert {(r["org"], r["course_key"]) for r in data} == {("OrgA", str(COURSE))}, name


def test_headline_numbers_equal_clickhouse_for_each_course(superset, shipped, users, courses_data):
    for user, course in (("course_staff", COURSE), ("other_course_staff", OTHER_COURSE)):
        charts = chart_rows(superset, token_for(users[user], course), shipped["course"])
        funnel = analytics.funnel(str(course))
        expected = courses_data[str(course)]
        assert charts["Enrolled learners"][0]["Enrolled learners"] == funnel.enrolled == expected.enrolled
        assert charts["Passing learners"][0]["Passing learners"] == analytics.passing_learners(str(course)) == \
            expected.graded_passing
        assert charts["Active this week"][0]["Active this week"] == expected.active_this_week
        hardest = analytics.problem_stats(str(course))
        assert {r["display_name"]: r["first_attempt_success_rate"] for r in charts["Hardest problems"]} == \
            pytest.approx({p.display_name: p.first_attempt_success_rate for p in hardest})


def test_a_token_for_b_never_returns_as_learners(superset, shipped, users, courses_data):
    token = token_for(users["other_course_staff"], OTHER_COURSE)
    a_learners = {learner.user_id for learner in courses_data[str(COURSE)].learners}
    b_learners = {learner.user_id for learner in courses_data[str(OTHER_COURSE)].learners}

    at_risk = chart_rows(superset, token, shipped["at_risk"], "At-risk learners")["At-risk learners"]
    assert sorted(r["user_id"] for r in at_risk) == courses_data[str(OTHER_COURSE)].at_risk
    # Whatever columns the page asks for, every dataset of the dashboard stays inside course B.
    everything = chart_rows(superset, token, shipped["at_risk"], columns=["user_id", "course_key"])
    seen = {r["user_id"] for data in everything.values() for r in data}
    assert seen and seen <= b_learners and not seen & a_learners
    # A clause of the page's own cannot widen it: Superset ANDs it inside the token's clauses.
    _, _, form_data = next(c for c in dashboard_charts(superset, shipped["at_risk"], token)
                           if c[1] == "At-risk learners")
    query = {"columns": ["user_id"], "metrics": [], "filters": [], "orderby": [], "row_limit": 1000,
             "extras": {"where": f"1 = 1 OR course_key = '{COURSE}'", "having": ""}}
    widened = rows(chart_data(superset, token, form_data, shipped["at_risk"], query=query, force=True))
    assert not {r["user_id"] for r in widened} & a_learners


def test_a_learner_gets_no_token(superset, shipped, users):
    client = Client()
    client.force_login(users["learner"])
    response = client.get(f"/aspects/superset_guest_token/{COURSE}/")
    assert response.status_code == 403 and "guestToken" not in response.json()


def test_at_risk_learners_shows_no_names_while_pii_is_off(superset, shipped, users, superset_admin, courses_data):
    token = token_for(users["course_staff"])
    charts = dashboard_charts(superset, shipped["at_risk"], token)
    for _, name, form_data in charts:
        data = rows(chart_data(superset, token, form_data, shipped["at_risk"], force=True))
        assert not NAME_COLUMNS & {key for row in data for key in row}, name
        assert not any("@example.invalid" in str(v) or "learner_" in str(v) for row in data for v in row.values())
    # ...and no dataset the token can reach has such a column to ask for.
    datasets = requests.get(f"{superset}api/v1/dashboard/{shipped['at_risk']}/datasets",
                            headers={GUEST_HEADER: token}, timeout=30).json()["result"]
    assert datasets
    for dataset in datasets:
        assert not NAME_COLUMNS & {c["column_name"] for c in dataset["columns"]}, dataset["table_name"]
    assert "individual_learner" not in shipped


def test_the_operator_dashboard_refuses_a_guest_token(superset, shipped, users, superset_admin):
    token = token_for(users["global_staff"])
    operator = shipped["operator"]
    assert requests.get(f"{superset}api/v1/dashboard/{operator}", headers={GUEST_HEADER: token},
                        timeout=30).status_code in (401, 403, 404)
    assert requests.get(f"{superset}api/v1/dashboard/{operator}/charts", headers={GUEST_HEADER: token},
                        timeout=30).status_code in (401, 403, 404)
    # Its charts' data, asked for under its own id or under the token's dashboard, is refused.
    charts = superset_admin.request("GET", f"api/v1/dashboard/{operator}/charts").json()["result"]
    assert charts
    for chart in charts:
        for dashboard_id in (operator, shipped["course"]):
            response = chart_data(superset, token, {**chart["form_data"], "slice_id": chart["id"]}, dashboard_id)
            assert response.status_code in (401, 403, 404), (chart["slice_name"], response.text[:300])


def test_the_operator_dashboard_shows_the_recorded_delivery_health(superset, shipped, superset_admin, courses_data):
    """`aspects_status --record` puts the outbox's state into ClickHouse, where the Operator dashboard reads it."""
    import io  # pylint: disable=import-outside-toplevel

    from django.core.management import call_command  # pylint: disable=import-outside-toplevel

    from platform_plugin_aspects.models import OutboxEntry  # pylint: disable=import-outside-toplevel
    from platform_plugin_aspects.tasks import record_delivery_health  # pylint: disable=import-outside-toplevel

    OutboxEntry.objects.create(sink="course_enrollment", object_key="1:course-v1:a+b+c")
    OutboxEntry.objects.create(sink="course_enrollment", object_key="2:course-v1:a+b+c")
    call_command("aspects_status", "--record", "--max-age", "100000", stdout=io.StringIO())
    record_delivery_health()  # the periodic task writes the same snapshot

    charts = {c["slice_name"]: c for c in superset_admin.request(
        "GET", f"api/v1/dashboard/{shipped['operator']}/charts").json()["result"]}
    sinks = superset_admin.request("POST", "api/v1/chart/data", json=query_context(
        {**charts["Delivery per sink (latest)"]["form_data"], "slice_id": charts["Delivery per sink (latest)"]["id"]},
        shipped["operator"], force=True)).json()["result"][0]["data"]
    waiting = {r["sink"]: r["waiting"] for r in sinks}
    assert waiting["course_enrollment"] == 2 and len(sinks) == 2 * len(waiting)  # two snapshots
    freshness = superset_admin.request("POST", "api/v1/chart/data", json=query_context(
        {**charts["Table freshness"]["form_data"], "slice_id": charts["Table freshness"]["id"]},
        shipped["operator"], force=True)).json()["result"][0]["data"]
    enrollment = next(r for r in freshness if r["table_name"] == "course_enrollment")
    assert enrollment["row_count"] == len(courses_data[str(COURSE)].learners) + len(
        courses_data[str(OTHER_COURSE)].learners)
    for name in ("Tracking events per minute", "Parts per partition", "Rejected events by reason", "Outbox backlog"):
        response = superset_admin.request("POST", "api/v1/chart/data", json=query_context(
            {**charts[name]["form_data"], "slice_id": charts[name]["id"]}, shipped["operator"], force=True))
        assert response.status_code == 200, (name, response.text[:300])
