"""
The schema runner: applies the plugin's ordered ``migrations/*.sql`` files once each.

A migration file is plain ClickHouse SQL with three placeholders:

* ``${database}`` — the sink database (``EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG["database"]``);
* ``${on_cluster}`` — empty, or ``ON CLUSTER '<name>'`` when migrating a cluster;
* ``${replicated}`` — empty, or ``Replicated`` so ``${replicated}ReplacingMergeTree(...)`` becomes
  the replicated engine (the server's ``default_replica_path``/``default_replica_name`` apply).

Applied files are recorded (name, checksum, time) in ``<database>.aspects_schema_migrations``, so
a second run is a no-op. Statements are separated by a ``;`` at the end of a line.

A file whose first line is ``-- repeatable: views`` holds only ``CREATE OR REPLACE VIEW``
statements (no data): it is applied again whenever it changes, so a view's SQL lives in one file
and an upgrade replaces it, instead of a new migration copying every view it touches. Any other
edited file is never re-applied (``changed()`` lists it for a warning).
"""

import dataclasses
import hashlib
import re
from pathlib import Path
from string import Template

from .client import ClickHouse

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
LEDGER_TABLE = "aspects_schema_migrations"
_NAME_RE = re.compile(r"^[A-Za-z0-9_]+$")
REPEATABLE_MARK = "-- repeatable: views"
_REPLACE_VIEW = re.compile(r"^CREATE OR REPLACE VIEW\s", re.I)


@dataclasses.dataclass(frozen=True)
class Migration:
    """One ``.sql`` file."""

    name: str
    sql: str

    @property
    def checksum(self):
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def repeatable(self):
        """Views only: applied again whenever the file changes."""
        return self.sql.startswith(REPEATABLE_MARK)

    def statements(self, database, cluster=None):
        """The file's statements with placeholders filled in."""
        rendered = Template(self.sql).substitute(**placeholders(database, cluster))
        without_comments = "\n".join(line for line in rendered.splitlines() if not line.strip().startswith("--"))
        statements = [s.strip() for s in re.split(r";\s*$", without_comments, flags=re.M) if s.strip()]
        if self.repeatable:
            wrong = [s.split("\n", 1)[0] for s in statements if not _REPLACE_VIEW.match(s)]
            if wrong:
                raise ValueError(f"Repeatable migration {self.name} may only CREATE OR REPLACE VIEW: {wrong[0]}")
        return statements


def placeholders(database, cluster=None):
    """Values for ``${database}``, ``${on_cluster}`` and ``${replicated}``."""
    for value, what in ((database, "database"), (cluster, "cluster")):
        if value and not _NAME_RE.match(value):
            raise ValueError(f"Invalid ClickHouse {what} name {value!r}: use letters, digits and underscores")
    return {
        "database": database,
        "on_cluster": f"ON CLUSTER '{cluster}'" if cluster else "",
        "replicated": "Replicated" if cluster else "",
    }


def load_migrations(directory=MIGRATIONS_DIR):
    """Every migration file, in name order."""
    return [Migration(path.stem, path.read_text(encoding="utf-8")) for path in sorted(Path(directory).glob("*.sql"))]


def bootstrap_statements(database, cluster=None):
    """Create the database and the ledger table (both idempotent)."""
    values = placeholders(database, cluster)
    return [
        Template("CREATE DATABASE IF NOT EXISTS ${database} ${on_cluster}").substitute(**values),
        Template(
            f"CREATE TABLE IF NOT EXISTS ${{database}}.{LEDGER_TABLE} ${{on_cluster}} "
            "(name String, checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
            "ENGINE = ${replicated}ReplacingMergeTree ORDER BY name"
        ).substitute(**values),
    ]


class MigrationRunner:
    """Apply pending migrations against one ClickHouse server."""

    def __init__(self, clickhouse, cluster=None, directory=MIGRATIONS_DIR):
        # Connect to `default`: the sink database may not exist yet.
        self.database = clickhouse.database
        self.clickhouse = ClickHouse(dataclasses.replace(clickhouse.config, database="default"))
        self.cluster = cluster or None
        self.migrations = load_migrations(directory)

    def applied(self):
        """``{name: checksum}`` of recorded migrations ({} when the ledger does not exist yet)."""
        exists = self.clickhouse.query(
            "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {t:String}",
            {"db": self.database, "t": LEDGER_TABLE},
        )[0][0]
        if not exists:
            return {}
        rows = self.clickhouse.query(f"SELECT name, checksum FROM {self.database}.{LEDGER_TABLE} FINAL")
        return dict(rows)

    def pending(self):
        """Migrations not applied yet, and repeatable ones changed since they were, in order."""
        applied = self.applied()
        return [m for m in self.migrations
                if m.name not in applied or (m.repeatable and applied[m.name] != m.checksum)]

    def changed(self):
        """Applied, not repeatable migrations whose file changed since (a warning for operators, never re-applied)."""
        applied = self.applied()
        return [m.name for m in self.migrations
                if m.name in applied and applied[m.name] != m.checksum and not m.repeatable]

    def plan(self):
        """Every statement a real run would execute, for ``--dry-run``."""
        statements = bootstrap_statements(self.database, self.cluster)
        for migration in self.pending():
            statements.extend(migration.statements(self.database, self.cluster))
        return statements

    def run(self, on_statement=None):
        """Apply what is pending; returns the names applied (empty on a second run)."""
        for statement in bootstrap_statements(self.database, self.cluster):
            self.clickhouse.command(statement)
        done = []
        for migration in self.pending():
            for statement in migration.statements(self.database, self.cluster):
                if on_statement:
                    on_statement(migration.name, statement)
                self.clickhouse.command(statement)
            self.clickhouse.insert(
                f"{self.database}.{LEDGER_TABLE}", [[migration.name, migration.checksum]], ["name", "checksum"]
            )
            done.append(migration.name)
        return done
