"""
The chart-data requests an embedded dashboard page sends, rebuilt from each chart's form data, for
the row-level-security tests and ``benchmarks/dashboard.py``.

The page asks ``GET /api/v1/dashboard/<id>/charts`` (with the guest token) for the charts' form
data, then ``POST /api/v1/chart/data`` once per chart with a query context its chart plugin
builds. ``query_context`` builds the same query (columns, metrics, ordering, filters, row limit)
for the chart types the shipped dashboards use; the post-processing the page adds only reshapes
rows, so it is left out.
"""

import json

import requests

GUEST_HEADER = "X-GuestToken"


def _where(form_data):
    clauses = [f"({f['sqlExpression']})" for f in form_data.get("adhoc_filters") or []
               if f.get("expressionType") == "SQL" and f.get("clause", "WHERE") == "WHERE"]
    return " AND ".join(clauses)


def build_query(form_data):
    """The one query of a chart of the shipped types (big number, table, pie, ECharts time series)."""
    viz = form_data["viz_type"]
    query = {"filters": [], "extras": {"having": "", "where": _where(form_data)}, "applied_time_extras": {},
             "row_limit": form_data.get("row_limit") or 10000, "url_params": {}, "custom_params": {},
             "custom_form_data": {}}
    if viz == "big_number_total":
        query.update(columns=[], metrics=[form_data["metric"]], orderby=[])
    elif viz == "pie":
        query.update(columns=form_data.get("groupby", []), metrics=[form_data["metric"]],
                     orderby=[[form_data["metric"], False]])
    elif viz == "table":
        query.update(columns=form_data.get("all_columns", []), metrics=[],
                     orderby=[json.loads(item) for item in form_data.get("order_by_cols") or []])
    else:
        x_axis = {"columnType": "BASE_AXIS", "sqlExpression": form_data["x_axis"], "label": form_data["x_axis"],
                  "expressionType": "SQL"}
        if form_data.get("time_grain_sqla"):
            x_axis["timeGrain"] = form_data["time_grain_sqla"]
        groupby = form_data.get("groupby") or []
        query.update(columns=[x_axis, *groupby], metrics=form_data["metrics"], series_columns=groupby,
                     orderby=[[form_data["metrics"][0], False]])
    return query


def query_context(form_data, dashboard_id, query=None, force=False):
    """The body of ``POST /api/v1/chart/data`` for one chart of dashboard ``dashboard_id``."""
    datasource_id = int(str(form_data["datasource"]).split("__")[0])
    return {
        "datasource": {"id": datasource_id, "type": "table"},
        "force": force,
        "queries": [query or build_query(form_data)],
        "form_data": {**form_data, "dashboardId": dashboard_id},
        "result_format": "json",
        "result_type": "full",
    }


def dashboard_charts(superset_url, dashboard, token, session=None):
    """``[(chart id, slice name, form data)]`` of a dashboard, as the embedded page gets them."""
    response = (session or requests).get(f"{superset_url}api/v1/dashboard/{dashboard}/charts",
                                         headers={GUEST_HEADER: token}, timeout=30)
    response.raise_for_status()
    return [(c["id"], c["slice_name"], c["form_data"]) for c in response.json()["result"]]


def chart_data(superset_url, token, form_data, dashboard_id, query=None, force=False, session=None):
    """``POST /api/v1/chart/data`` as the embedded page sends it; returns the response."""
    return (session or requests).post(
        f"{superset_url}api/v1/chart/data",
        params={"form_data": json.dumps({"slice_id": form_data.get("slice_id")}), "dashboard_id": dashboard_id},
        headers={GUEST_HEADER: token}, json=query_context(form_data, dashboard_id, query, force), timeout=60)


def rows(response):
    """The rows of a chart-data answer (first query)."""
    assert response.status_code == 200, response.text[:500]
    return response.json()["result"][0]["data"]
