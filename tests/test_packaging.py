"""
The embedded SDK the package ships is the release package-lock.json pins (vendored, see
docs/decisions/0001-embedded-sdk-in-the-package.rst), with its licenses. What a built wheel holds is
checked by ``make wheel-check`` (devstack.wheel_check), which ``make test`` runs before the suite.
"""

import json
import sys
import zipfile

import pytest

from devstack import vendor_sdk, wheel_check


def test_the_vendored_sdk_is_the_locked_npm_release():
    """Fetch the pinned tarball (npm's cache first), check its sha512 against the lock, compare the bundle."""
    pin = vendor_sdk.verify()

    assert pin == vendor_sdk.locked()
    assert json.loads(vendor_sdk.MANIFEST.read_text())["version"] == pin["version"]


def test_a_bundle_changed_by_hand_is_refused():
    bundle = vendor_sdk.BUNDLE.read_bytes()

    with pytest.raises(vendor_sdk.VendorError, match="changed by hand"):
        vendor_sdk.check(bundle.replace(b"use strict", b"use sloppy"))


def test_a_pin_bumped_without_re_vendoring_is_refused():
    manifest = json.loads(vendor_sdk.MANIFEST.read_text())
    stale = {**manifest, "version": "0.3.0", "integrity": "sha512-stale"}

    with pytest.raises(vendor_sdk.VendorError, match="package-lock.json pins"):
        vendor_sdk.check(vendor_sdk.BUNDLE.read_bytes(), stale)


def test_a_tarball_that_is_not_the_locked_one_is_refused():
    pin = {**vendor_sdk.locked(), "integrity": vendor_sdk.sri_sha512(b"something else")}

    with pytest.raises(vendor_sdk.VendorError, match="sha512 is not package-lock.json's integrity"):
        vendor_sdk.fetch_bundle(pin)


def test_the_bundles_licenses_ship_next_to_it():
    licenses = (vendor_sdk.VENDOR_DIR / "superset-embedded-sdk.LICENSE.txt").read_text()

    assert "Apache License" in licenses and "Version 2.0, January 2004" in licenses
    assert "jwt-decode 4.0.0" in licenses and "Permission is hereby granted, free of charge" in licenses


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(wheel, export): a wheel built from a clean export of this checkout, as `make wheel-check` builds it."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = wheel_check.export(wheel_check.ROOT, tmp / "export")
    wheel_check.run(sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir", tmp / "dist", source)
    return next((tmp / "dist").glob("*.whl")), source


def rewrite(wheel, target, drop=(), add=()):
    """A copy of ``wheel`` without the files in ``drop`` and with the (name, bytes) pairs in ``add``."""
    with zipfile.ZipFile(wheel) as original, zipfile.ZipFile(target, "w") as copy:
        for item in original.infolist():
            if item.filename not in drop:
                copy.writestr(item, original.read(item.filename))
        for name, data in add:
            copy.writestr(name, data)
    return target


def test_the_wheel_of_this_checkout_passes_the_check(built):
    wheel, source = built

    names = wheel_check.check_wheel(wheel, source)

    assert wheel_check.SDK in names and not [n for n in names if n.startswith(("devstack/", "tests/"))]


@pytest.mark.parametrize("drop,add,problem", [
    ([wheel_check.SDK], [], "missing"),
    ([], [("devstack/local_superset.py", b"ADMIN_PASSWORD = 'admin'\n")], "extra"),
    ([], [("platform_plugin_aspects/superset/local_server.py", b"")], "extra"),
], ids=["no SDK", "a dev launcher", "the old launcher path"])
def test_the_check_refuses_a_wheel_that_lacks_or_adds_files(built, tmp_path, drop, add, problem):
    wheel, source = built
    broken = rewrite(wheel, tmp_path / wheel.name, drop=drop, add=add)

    with pytest.raises(wheel_check.WheelCheckError, match=problem):
        wheel_check.check_wheel(broken, source)


def test_the_check_refuses_a_wheel_with_another_sdk(built, tmp_path):
    wheel, source = built
    broken = rewrite(wheel, tmp_path / wheel.name, drop=[wheel_check.SDK],
                     add=[(wheel_check.SDK, b"window.supersetEmbeddedSdk = {};\n")])

    with pytest.raises(vendor_sdk.VendorError, match="changed by hand"):
        wheel_check.check_wheel(broken, source)
