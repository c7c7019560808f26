"""
The embedded SDK the plugin ships, vendored in the repository (docs/decisions/0001).

``package-lock.json`` pins ``@superset-ui/embedded-sdk`` (version and the npm tarball's sha512
``integrity``). ``python -m devstack.vendor_sdk update`` (``make static``) fetches that tarball with
``npm pack``, refuses it unless its sha512 is the lock's, and writes its browser bundle into the
package's static files with a manifest naming where it came from. ``check`` verifies, offline, that
the committed bundle is the one the manifest and the lock name; ``verify`` fetches the tarball again
and compares byte for byte (what the test suite does).

Usage::

    python -m devstack.vendor_sdk update     # after bumping the pin in package.json / package-lock.json
    python -m devstack.vendor_sdk check
    python -m devstack.vendor_sdk verify
"""

import argparse
import base64
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_NAME = "@superset-ui/embedded-sdk"
BUNDLE_IN_TARBALL = "package/bundle/index.js"
VENDOR_DIR = ROOT / "platform_plugin_aspects" / "static" / "platform_plugin_aspects" / "vendor"
BUNDLE = VENDOR_DIR / "superset-embedded-sdk.js"
MANIFEST = VENDOR_DIR / "superset-embedded-sdk.json"


class VendorError(Exception):
    """The vendored SDK is not the pinned one (or the pinned one could not be fetched)."""


def locked(root=ROOT):
    """``{"version", "integrity"}`` of the SDK in ``package-lock.json``."""
    lock = json.loads((Path(root) / "package-lock.json").read_text(encoding="utf-8"))
    entry = lock["packages"][f"node_modules/{PACKAGE_NAME}"]
    return {"version": entry["version"], "integrity": entry["integrity"]}


def sri_sha512(data):
    """The npm ``integrity`` string (subresource-integrity sha512) of ``data``."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def fetch_bundle(pin):
    """The bundle from the npm tarball of ``pin``, after checking the tarball against the lock's sha512."""
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(["npm", "pack", f"{PACKAGE_NAME}@{pin['version']}", "--prefer-offline", "--json",
                               "--pack-destination", tmp], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise VendorError(f"npm pack {PACKAGE_NAME}@{pin['version']} failed: {done.stderr.strip()[-500:]}")
        tarball = next(Path(tmp).glob("*.tgz")).read_bytes()
    if sri_sha512(tarball) != pin["integrity"]:
        raise VendorError(f"the npm tarball's sha512 is not package-lock.json's integrity ({pin['integrity']})")
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        meta = json.load(archive.extractfile("package/package.json"))
        if meta["version"] != pin["version"]:
            raise VendorError(f"the tarball is version {meta['version']}, the lock pins {pin['version']}")
        return archive.extractfile(BUNDLE_IN_TARBALL).read()


def update():
    """Vendor the locked SDK bundle and write its manifest."""
    pin = locked()
    bundle = fetch_bundle(pin)
    VENDOR_DIR.mkdir(parents=True, exist_ok=True)
    BUNDLE.write_bytes(bundle)
    MANIFEST.write_text(json.dumps({
        "package": PACKAGE_NAME, "version": pin["version"], "integrity": pin["integrity"],
        "file": BUNDLE_IN_TARBALL.removeprefix("package/"), "sha256": hashlib.sha256(bundle).hexdigest(),
    }, indent=2) + "\n", encoding="utf-8")
    return pin


def check(bundle_bytes=None, manifest=None, root=ROOT):
    """Offline: the bundle is the manifest's, and the manifest names the lock's version and tarball."""
    pin = locked(root)
    manifest = manifest or json.loads(MANIFEST.read_text(encoding="utf-8"))
    bundle_bytes = BUNDLE.read_bytes() if bundle_bytes is None else bundle_bytes
    if (manifest["package"], manifest["version"], manifest["integrity"]) != (PACKAGE_NAME, pin["version"],
                                                                              pin["integrity"]):
        raise VendorError(f"the vendored SDK is {manifest['version']} ({manifest['integrity']}), package-lock.json "
                          f"pins {pin['version']} ({pin['integrity']}): run `make static`")
    if hashlib.sha256(bundle_bytes).hexdigest() != manifest["sha256"]:
        raise VendorError("the vendored SDK bundle was changed by hand: run `make static`")
    return pin


def verify():
    """Online (npm's cache first): the committed bundle is byte for byte the locked tarball's."""
    pin = check()
    if fetch_bundle(pin) != BUNDLE.read_bytes():
        raise VendorError("the vendored SDK differs from the locked npm release: run `make static`")
    return pin


def main(argv=None):
    parser = argparse.ArgumentParser(description="Vendor or check the pinned @superset-ui/embedded-sdk bundle.")
    parser.add_argument("action", choices=["update", "check", "verify"])
    args = parser.parse_args(argv)
    try:
        pin = {"update": update, "check": check, "verify": verify}[args.action]()
    except VendorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{PACKAGE_NAME} {pin['version']} ({pin['integrity'][:20]}...): {args.action} ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
