"""
The embedded SDK the package ships is the release package-lock.json pins (vendored, see
docs/decisions/0001-embedded-sdk-in-the-package.rst), with its licenses. What a built wheel holds is
checked by ``make wheel-check`` (devstack.wheel_check), which ``make test`` runs before the suite.
"""

import json

import pytest

from devstack import vendor_sdk


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
