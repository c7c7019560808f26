"""
``make dashboards``: the demo course's Reports tab with the shipped dashboards, for a person to look at.

    python -m tests.lms.demo.dashboards_demo start       # after `make demo` filled ClickHouse
    python -m tests.lms.demo.dashboards_demo screenshot  # docs/reports-tab.png from the running demo
    python -m tests.lms.demo.dashboards_demo stop

``start`` starts a local Superset (var/superset, port SUPERSET_PORT or 8088), installs the shipped
dashboards with ``aspects_superset_sync`` (Superset reads ClickHouse as the read-only ``ch_report``),
gives the demo course a staff member, starts the stand-in LMS web server (LMS_PORT or 8000) and
prints the Reports-tab URL with that login. Both servers keep running in the background (their
logs and pids in var/) until ``stop``.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import django
import requests

from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[3]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "test_settings")

COURSE = "course-v1:OpenedX+AspectsDemo+2026"
STAFF = ("demo_staff", "demo")
VAR = ROOT / "var"
LMS_PID = VAR / "lms-demo.pid"


def _login_url():
    """The login page, sending the user on to the demo course's Instructor Dashboard."""
    return f"{_lms_url()}/login/?next={quote(f'/courses/{COURSE}/instructor', safe='')}"


def _lms_url():
    return f"http://localhost:{os.environ.get('LMS_PORT', '8000')}"


def _superset():
    from devstack.local_superset import LocalSuperset  # pylint: disable=import-outside-toplevel

    return LocalSuperset(VAR / "superset", ROOT / "var" / "superset-venv")


def _running(pid_file):
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def start_superset():
    """The demo Superset's URL, started in the background unless it already answers."""
    server = _superset()
    url_file = server.home / "url"
    if url_file.exists() and _running(server.home / "server.pid"):
        url = url_file.read_text().strip()
        try:
            if requests.get(url + "health", timeout=2).status_code == 200:
                return url
        except requests.RequestException:
            pass
    url = server.start(int(os.environ.get("SUPERSET_PORT", "8088")))
    server.process = None  # keep it running after this process exits
    return url


def start(stdout=sys.stdout):
    """Superset with the shipped dashboards, a staff login, the LMS web server; prints where to look."""
    django.setup()
    from django.conf import settings  # pylint: disable=import-outside-toplevel
    from django.contrib.auth import get_user_model  # pylint: disable=import-outside-toplevel
    from django.core.management import call_command  # pylint: disable=import-outside-toplevel

    from devstack.local_superset import ADMIN_PASSWORD, ADMIN_USERNAME  # pylint: disable=import-outside-toplevel
    from tests.lms.student.models import CourseAccessRole  # pylint: disable=import-outside-toplevel

    url = start_superset()
    settings.SUPERSET_CONFIG = {"service_url": url, "internal_service_url": url, "username": ADMIN_USERNAME,
                                "password": ADMIN_PASSWORD, "timeout_secs": 30}
    settings.LMS_ROOT_URL = _lms_url()
    call_command("aspects_superset_sync", stdout=stdout)

    user, _ = get_user_model().objects.get_or_create(username=STAFF[0], defaults={"email": "staff@example.com"})
    user.set_password(STAFF[1])
    user.first_name, user.last_name = "Demo", "Staff"
    user.save()
    CourseAccessRole.objects.get_or_create(user=user, org="OpenedX", course_id=COURSE, role="staff")

    if not _running(LMS_PID):
        env = {**os.environ, "SUPERSET_URL": url}
        log = open(VAR / "lms-demo.log", "ab")  # pylint: disable=consider-using-with
        process = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{os.environ.get('LMS_PORT', '8000')}", "--noreload"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        LMS_PID.write_text(str(process.pid))
        if not wait_for(_lms_answers, timeout=30, interval=0.2):  # say so, rather than print a dead URL
            raise SystemExit(f"The stand-in LMS did not answer on {_lms_url()} within 30 s: "
                             f"see {VAR / 'lms-demo.log'}")
    reports = f"{_lms_url()}/courses/{COURSE}/instructor"
    stdout.write(f"\nSuperset:  {url} (admin / admin)\n"
                 f"Reports:   {_login_url()}  "
                 f"(log in as {STAFF[0]} / {STAFF[1]}, then choose \"Reports\")\n"
                 f"           {reports}\n"
                 "Stop both: make dashboards-stop\n")
    return reports


def _lms_answers():
    """Whether the stand-in LMS answers HTTP yet."""
    try:
        requests.get(_lms_url() + "/login/", timeout=1)
    except requests.RequestException:
        return False
    return True


def screenshot(path=ROOT / "docs" / "reports-tab.png"):
    """Log in as the demo staff member in headless Chromium and photograph the Reports tab's charts."""
    # pylint: disable=import-outside-toplevel
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        browser.get(_login_url())
        browser.find_element(By.NAME, "username").send_keys(STAFF[0])
        browser.find_element(By.NAME, "password").send_keys(STAFF[1])
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        browser.find_element(By.CSS_SELECTOR, 'nav a[data-section="aspects"]').click()
        wait = WebDriverWait(browser, 120, poll_frequency=0.5)
        wait.until(expected_conditions.frame_to_be_available_and_switch_to_it(
            (By.CSS_SELECTOR, ".aspects-reports-panel iframe")))
        try:
            wait.until(lambda driver: not driver.execute_script(
                "const c = document.querySelectorAll('[data-test=\"chart-grid-component\"]');"
                "return c.length === 0 || [...c].some(e => e.offsetParent && (e.querySelector("
                "'[data-test=\"loading-indicator\"], .loading') || /Waiting on database|Loading/.test(e.innerText)"
                " || !e.querySelector('canvas, table, .header-line')));"))
        except TimeoutException:
            pass  # photograph what there is: a chart still loading shows in the picture
        time.sleep(2)  # the charts' entry animation
        browser.switch_to.default_content()
        browser.save_screenshot(str(path))
    finally:
        browser.quit()
    print(f"saved {path}")


def stop():
    """Stop the demo's LMS web server and Superset (only the processes this demo started)."""
    for pid_file in (LMS_PID, VAR / "superset" / "server.pid"):
        pid = _running(pid_file)
        if pid:
            os.killpg(pid, signal.SIGTERM)
            print(f"stopped {pid_file.stem} (pid {pid})")
        pid_file.unlink(missing_ok=True)


if __name__ == "__main__":
    {"start": start, "screenshot": screenshot, "stop": stop}[sys.argv[1]]()
