"""Package metadata for platform-plugin-aspects."""
import os
import re

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def read_version():
    """Read ``__version__`` without importing the package (Django may not be configured)."""
    with open(os.path.join(HERE, "platform_plugin_aspects", "__init__.py"), encoding="utf-8") as init:
        return re.search(r'__version__ = "([^"]+)"', init.read()).group(1)


def read_requirements(name):
    """Return the loose (unpinned) requirements from ``requirements/<name>.in``."""
    lines = []
    with open(os.path.join(HERE, "requirements", f"{name}.in"), encoding="utf-8") as reqs:
        for line in reqs:
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                lines.append(line)
    return lines


setup(
    name="platform-plugin-aspects",
    version=read_version(),
    description="Real-time analytics for Open edX: LMS/Studio state and tracking events into ClickHouse, "
    "Superset dashboards in the Instructor Dashboard.",
    long_description=open(os.path.join(HERE, "README.rst"), encoding="utf-8").read(),
    long_description_content_type="text/x-rst",
    license="AGPL 3.0",
    packages=find_packages(include=["platform_plugin_aspects", "platform_plugin_aspects.*"]),
    include_package_data=True,
    package_data={"platform_plugin_aspects": ["clickhouse/migrations/*.sql", "templates/**/*", "static/**/*",
                                              "conf/locale/*/LC_MESSAGES/*.po", "superset/assets/**/*.yaml"]},
    python_requires=">=3.11",
    install_requires=read_requirements("base"),
    zip_safe=False,
    entry_points={
        "lms.djangoapp": ["platform_plugin_aspects = platform_plugin_aspects.apps:PlatformPluginAspectsConfig"],
        "cms.djangoapp": ["platform_plugin_aspects = platform_plugin_aspects.apps:PlatformPluginAspectsConfig"],
        # The "superset" XBlock: course authors add "superset" to a course's Advanced Module List.
        "xblock.v1": ["superset = platform_plugin_aspects.xblock:SupersetXBlock"],
    },
    classifiers=[
        "Framework :: Django",
        "Framework :: Django :: 5.2",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
    ],
)
