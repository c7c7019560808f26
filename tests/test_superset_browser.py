"""
The Reports tab in a real browser: headless Debian Chromium loads the stand-in Instructor
Dashboard (the real openedx-filters pipeline), served by Django's live server, with a real Superset.
"""

import os
import shutil
from pathlib import Path

import pytest
from django.test import Client
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from devstack.ports import free_port

from .superset_fixtures import *  # noqa: F401,F403  pylint: disable=wildcard-import,unused-wildcard-import
from .test_superset_xblock import (
    USAGE,
    store,  # noqa: F401  a fixture, used by name
    studio_save,
)

pytestmark = pytest.mark.django_db(transaction=True)

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ROOT = Path(__file__).resolve().parent.parent
# The README's picture is refreshed only on request (ASPECTS_UPDATE_SCREENSHOT=1), so test runs
# do not dirty the work tree; otherwise the screenshot goes to var/.
SCREENSHOT = ROOT / ("docs" if os.environ.get("ASPECTS_UPDATE_SCREENSHOT") else "var") / "reports-tab.png"


@pytest.fixture
def browser(tmp_path):
    """A fresh headless Chromium (run `make chromium` to install it)."""
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.fail("chromium/chromedriver missing: run `make chromium`")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,900", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def log_in(browser, live_server, user):
    """Give the browser ``user``'s session cookie for the live server."""
    client = Client()
    client.force_login(user)
    browser.get(live_server.url + "/static/platform_plugin_aspects/css/reports.css")
    browser.add_cookie({"name": "sessionid", "value": client.cookies["sessionid"].value, "path": "/"})


def open_reports(browser, live_server, user):
    """Log ``user`` in, open the Instructor Dashboard and select "Reports"."""
    log_in(browser, live_server, user)
    browser.get(f"{live_server.url}/courses/{COURSE}/instructor")
    browser.find_element(By.CSS_SELECTOR, 'nav a[data-section="aspects"]').click()


def page_text_has(browser, text):
    """Whether the current document (or frame) shows ``text`` yet; False while it is still loading."""
    try:
        return any(text in body.text for body in browser.find_elements(By.TAG_NAME, "body"))
    except WebDriverException:
        return False


def test_reports_tab_embeds_each_dashboard_lazily(browser, live_server, superset_settings, settings, superset,
                                                  embedded_dashboard, second_embedded_dashboard, users):
    settings.ASPECTS_INSTRUCTOR_DASHBOARDS = [
        {"name": "Course Dashboard", "uuid": embedded_dashboard["uuid"]},
        {"name": "At-Risk Learners", "uuid": second_embedded_dashboard["uuid"]},
    ]
    open_reports(browser, live_server, users["course_staff"])
    panels = browser.find_elements(By.CSS_SELECTOR, ".aspects-reports-panel")
    assert len(panels) == 2

    first = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".aspects-reports-panel iframe"),
                     message="the first dashboard's iframe")
    assert first[0].get_attribute("src").startswith(f"{superset}embedded/{embedded_dashboard['uuid']}")
    # Lazy: the second dashboard is not loaded until its tab is chosen.
    assert len(browser.find_elements(By.CSS_SELECTOR, ".aspects-reports-panel iframe")) == 1

    # Wait until Superset rendered the embedded dashboard (the guest token worked in the browser).
    browser.switch_to.frame(first[0])
    wait_for(lambda: page_text_has(browser, embedded_dashboard["title"]),
             timeout=60, message="Superset to render the embedded dashboard's content")
    browser.switch_to.default_content()
    SCREENSHOT.parent.mkdir(exist_ok=True)
    browser.save_screenshot(str(SCREENSHOT))

    browser.find_elements(By.CSS_SELECTOR, ".aspects-reports-tab")[1].click()
    frames = wait_for(lambda: [f for f in browser.find_elements(By.CSS_SELECTOR, ".aspects-reports-panel iframe")
                               if second_embedded_dashboard["uuid"] in f.get_attribute("src")],
                      message="the second dashboard's iframe")
    assert frames[0].get_attribute("src").startswith(f"{superset}embedded/{second_embedded_dashboard['uuid']}")
    # The first dashboard kept its own iframe: the two do not interfere.
    assert len(browser.find_elements(By.CSS_SELECTOR, ".aspects-reports-panel iframe")) == 2


def test_the_page_refreshes_the_token_before_it_expires(browser, live_server, superset_settings, embedded_dashboard,
                                                        users):
    open_reports(browser, live_server, users["course_staff"])
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".aspects-reports-panel iframe"), message="the iframe")
    token_fetches = ("return performance.getEntriesByType('resource')"
                     ".filter(e => e.name.includes('/aspects/superset_guest_token/')).map(e => e.startTime)")
    first = browser.execute_script(token_fetches)
    assert len(first) == 1

    times = wait_for(lambda: (lambda t: t if len(t) >= 2 else None)(browser.execute_script(token_fetches)),
                     timeout=GUEST_TOKEN_SECONDS + 5, message="a second guest-token request")
    assert (times[1] - times[0]) / 1000 < GUEST_TOKEN_SECONDS  # asked again before the first one expired
    assert not [s for s in browser.find_elements(By.CSS_SELECTOR, ".aspects-reports-error") if s.is_displayed()]


def test_unreachable_superset_shows_a_message(browser, live_server, superset_settings, settings, users):
    closed = f"http://127.0.0.1:{free_port()}/"
    settings.SUPERSET_CONFIG = {**superset_settings, "service_url": closed, "internal_service_url": closed}
    open_reports(browser, live_server, users["course_staff"])

    status = wait_for(lambda: [s for s in browser.find_elements(By.CSS_SELECTOR, ".aspects-reports-error")
                               if s.is_displayed() and s.text], message="an error message")
    assert "could not be reached" in status[0].text
    assert not browser.find_elements(By.CSS_SELECTOR, ".aspects-reports-panel iframe")


def test_token_endpoint_failure_shows_the_servers_message(browser, live_server, superset_settings, settings, users):
    # The browser reaches Superset, but the LMS cannot (e.g. a wrong internal URL).
    settings.SUPERSET_CONFIG = {**superset_settings, "internal_service_url": f"http://127.0.0.1:{free_port()}/"}
    open_reports(browser, live_server, users["course_staff"])

    status = wait_for(lambda: [s for s in browser.find_elements(By.CSS_SELECTOR, ".aspects-reports-error")
                               if s.is_displayed() and s.text], message="an error message")
    assert "Superset could not be reached" in status[0].text


def test_the_superset_xblock_embeds_its_dashboard_for_staff(browser, live_server, superset_settings, embedded_dashboard,
                                                             store, users):  # noqa: F811  the fixture, by name
    """The block alone on a page (as the Learning MFE's unit iframe shows it): its script posts to
    the block's handler with the CSRF token and Superset renders the dashboard with that token."""
    assert studio_save(users["course_staff"], dashboard_uuid=embedded_dashboard["uuid"])[0] == 200
    log_in(browser, live_server, users["course_staff"])
    browser.get(f"{live_server.url}/xblock/{USAGE}")

    frames = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".aspects-reports-panel iframe"),
                      message="the block's iframe")
    assert not browser.find_element(By.CSS_SELECTOR, ".aspects-reports-tab").is_displayed()  # one dashboard: no tab bar
    browser.switch_to.frame(frames[0])
    wait_for(lambda: page_text_has(browser, embedded_dashboard["title"]),
             timeout=60, message="Superset to render the block's dashboard")


# --- the shipped Course Dashboard, rendered ------------------------------------------------------------

COURSE_TABS = ("Enrollment", "Engagement", "Problems", "Videos", "Grades")
NO_DATA = "No results were returned for this query"


def chart_states(browser):
    """``{chart name: state}`` of the charts in the visible tab of the embedded dashboard (inside its frame)."""
    return browser.execute_script("""
        const states = {};
        for (const chart of document.querySelectorAll('[data-test="chart-grid-component"]')) {
          if (!chart.offsetParent) continue;  // in a hidden tab
          const name = chart.getAttribute('data-test-chart-name');
          const text = chart.innerText || '';
          if (chart.querySelector('[data-test="loading-indicator"], .loading')) states[name] = 'loading';
          else if (text.includes(arguments[0])) states[name] = 'no data';
          else if (chart.querySelector('[role="alert"], .ant-alert-error, [data-test="error-tooltip"]')
                   || /error/i.test(text)) states[name] = 'error: ' + text.slice(0, 200);
          else if (chart.querySelector('canvas, svg, table, .header-line')) states[name] = 'ok';
          else states[name] = 'loading';
        }
        return states;
    """, NO_DATA)


def settled(browser):
    """The chart states once none is loading (None while some still are)."""
    states = chart_states(browser)
    return states if states and "loading" not in states.values() else None


def keep_evidence(browser, name):
    """The page's screenshot and HTML in var/, to see what a failing browser test saw."""
    (ROOT / "var").mkdir(exist_ok=True)
    try:
        browser.save_screenshot(str(ROOT / "var" / f"{name}.png"))
        (ROOT / "var" / f"{name}.html").write_text(browser.page_source, encoding="utf-8")
    except WebDriverException:
        pass


def test_the_course_dashboard_renders_every_chart_with_data(browser, live_server, shipped, users, courses_data,
                                                            request):
    from platform_plugin_aspects import analytics  # pylint: disable=import-outside-toplevel

    open_reports(browser, live_server, users["course_staff"])
    frame = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".aspects-reports-panel iframe"),
                     message="the Course Dashboard's iframe")[0]
    browser.switch_to.frame(frame)
    seen = {}
    request.addfinalizer(lambda: keep_evidence(browser, "course-dashboard"))
    for tab in COURSE_TABS:
        button = wait_for(lambda t=tab: [e for e in browser.find_elements(By.CSS_SELECTOR, '[role="tab"]')
                                         if e.text.strip() == t], timeout=90, message=f"the {tab} tab")[0]
        button.click()
        states = wait_for(lambda: settled(browser), timeout=90, message=f"the charts of {tab}")
        seen.update(states)
        if tab == "Enrollment":
            # The tab's other charts can settle before this one is drawn: wait for its figure.
            headline = wait_for(lambda: browser.execute_script(
                "const e = document.querySelector('[data-test-chart-name=\"Enrolled learners\"] .header-line');"
                "return e && e.innerText.trim();"), timeout=90, message="the Enrolled learners figure")
            assert int(headline.replace(",", "")) == analytics.funnel(str(COURSE)).enrolled == \
                courses_data[str(COURSE)].enrolled
    assert {name: state for name, state in seen.items() if state != "ok"} == {}
    assert len(seen) == 10  # every chart of the five tabs
    browser.switch_to.default_content()
