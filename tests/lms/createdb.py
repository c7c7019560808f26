"""Create the stand-in LMS's MySQL database (`make lmsdb`, after `make db`); SQLite needs nothing."""

import os
import sys

sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "test_settings")

import test_settings  # noqa: E402  pylint: disable=wrong-import-position

db = test_settings.DATABASES["default"]
if db["ENGINE"].endswith("mysql"):
    import MySQLdb

    connection = MySQLdb.connect(host=db["HOST"], port=int(db["PORT"]), user=db["USER"], password=db["PASSWORD"])
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{db['NAME']}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    connection.close()
else:
    test_settings.VAR_DIR.mkdir(exist_ok=True)
