"""
Development launchers: real local services for the tests, the benchmarks and the demo.

Nothing here is part of the installed plugin (the wheel excludes this package): a production site
has its own ClickHouse, Superset and MySQL, and must not carry a Superset launcher with an
``admin``/``admin`` account.

* ``devstack.ports``: the one free-port helper;
* ``devstack.local_clickhouse``: a real ClickHouse server from the chdb-core wheel;
* ``devstack.local_superset``: a real Superset 6.1 from ``var/superset-venv``;
* ``devstack.local_mariadb``: a private MariaDB under ``var/`` when none answers.
"""
