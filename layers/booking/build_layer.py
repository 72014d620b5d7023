"""Builds BookingLayer: only what runs, with its bytecode.

``sam build`` runs it through this folder's Makefile (``BuildMethod: makefile``); ``local/bench``
imports it to measure the same layer. Standard library only, any python3 with pip:

    python3 build_layer.py ARTIFACTS_DIR [--platform lambda|host]

The layer's files land in ``ARTIFACTS_DIR/python`` (Lambda mounts it as ``/opt/python``):

1. ``pip install --target --no-compile -r requirements.txt``: arm64 wheels for CPython 3.13
   (``--platform lambda``, the function's runtime), or this interpreter's (``--platform host``,
   for local measurements);
2. our ``booking`` package, without its ``__pycache__``;
3. pruned: botocore's (and boto3's) ``data/`` keeps only ``SERVICES``, and in each of them the
   latest API version's files that botocore loads at run time; ``endpoints.json`` keeps every
   partition with only those services. Creating the first client otherwise lists and stats
   every one of ~450 service folders and parses 1.25 MB of endpoints. Also gone: console scripts
   (``bin/``), type stubs, packages' own tests and documentation, and Powertools' Swagger UI
   assets (we never call ``enable_swagger``);
4. compiled to unchecked-hash bytecode (never checked against its source, so the zip's
   timestamps cannot invalidate it), naming each source by its path on Lambda
   (``/opt/python/...``), when this interpreter is the runtime's version (CPython 3.13).
   Lambda's ``/opt`` is read-only: a layer without bytecode compiles every module it imports at
   every cold start, and this script says so when it cannot compile it.

A new AWS service is a new name in ``SERVICES`` (tests/unit/test_layer_build.py fails until it
is there).
"""

from __future__ import annotations

import argparse
import compileall
import gzip
import json
import py_compile
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements.txt"
PACKAGE = HERE / "booking"

#: The AWS services the code creates clients for (``aws_client("...")``): the only ones whose
#: botocore data the layer keeps.
SERVICES = ("dynamodb", "events", "secretsmanager", "sesv2", "sqs")

#: The runtime (template.yaml: ``Runtime: python3.13``, ``Architectures: [arm64]``).
RUNTIME = (3, 13)
LAMBDA, HOST = "lambda", "host"
PIP_PLATFORM = {
    LAMBDA: ("--platform", "manylinux2014_aarch64", "--implementation", "cp",
             "--python-version", "3.13", "--only-binary=:all:"),
    HOST: (),
}  # fmt: skip
#: Where Lambda mounts a layer's ``python`` folder: the path tracebacks show.
LAMBDA_SITE = "/opt/python"

#: botocore's own files in ``data/`` (retries, partitions, defaults modes, endpoints).
BOTOCORE_TOP_LEVEL = ("_retry", "partitions", "sdk-default-configuration", "endpoints")
#: A service's files botocore reads at run time (``examples-1`` is for documentation), each
#: with its ``.sdk-extras`` when there is one.
SERVICE_FILES = ("service-2", "endpoint-rule-set-1", "paginators-1", "waiters-2")
#: boto3's ``data/`` holds resource models (``boto3.resource``), kept for the same services.
BOTO3_FILES = ("resources-1",)
#: Files of the installed packages that never run on Lambda (relative to the layer's root),
#: and what they are.
NEVER_RUN = {
    "bin": "console scripts",  # their shebang names this build machine's python
    "boto3/examples": "documentation",  # reStructuredText
    # Served by Powertools' enable_swagger(), which we never call (a test checks it).
    "aws_lambda_powertools/event_handler/openapi/swagger_ui/swagger-ui-bundle.min.js": "Swagger UI",
    "aws_lambda_powertools/event_handler/openapi/swagger_ui/swagger-ui.min.css": "Swagger UI",
}
#: Suffixes of files only type checkers read.
TYPING_ONLY = (".pyi", "py.typed")
JSON_SUFFIXES = (".json", ".json.gz")


def say(text: str) -> None:
    print(f"build_layer: {text}", flush=True)


def install(requirements: Path, site: Path, platform: str = LAMBDA) -> None:
    """``pip install --target site``, as ``sam build`` installs a layer's requirements, for
    ``platform``; no bytecode (``compile_bytecode`` writes the runtime's)."""
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--no-compile", "--upgrade", "--target", str(site), *PIP_PLATFORM[platform],
        "-r", str(requirements),
    ]  # fmt: skip
    # pip's own output only when it fails (its warnings about the build machine's environment
    # say nothing about the layer).
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise subprocess.CalledProcessError(done.returncode, command)


def copy_package(package: Path, site: Path) -> None:
    shutil.copytree(
        package,
        site / package.name,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        dirs_exist_ok=True,
    )


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _remove(path: Path) -> int:
    """Removes a file or a folder; the bytes it held."""
    if not path.exists():
        return 0
    size = _size(path)
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
    return size


def _stem(name: str) -> str | None:
    """``service-2`` of ``service-2.json.gz``; None for a file botocore does not load."""
    for suffix in JSON_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return None


def _read_json(path: Path) -> Any:
    if path.name.endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8") as packed:
            return json.load(packed)
    with path.open(encoding="utf-8") as plain:
        return json.load(plain)


def _latest_version(folder: Path, type_name: str) -> Path | None:
    """The API version botocore picks for a client (the newest one with ``type_name``)."""
    versions = sorted(
        version
        for version in folder.iterdir()
        if version.is_dir() and any(_stem(f.name) == type_name for f in version.iterdir())
    )
    return versions[-1] if versions else None


def prune_service_data(data: Path, services: tuple[str, ...], files: tuple[str, ...]) -> int:
    """Keeps in ``data`` (botocore's or boto3's ``data/``) only ``services``, each with its
    latest API version's ``files`` (and their ``.sdk-extras``); the bytes removed. A service of
    ``services`` missing from botocore's data is an error (a typo, or a service botocore lacks)."""
    removed = 0
    wanted = set(files) | {f"{name}.sdk-extras" for name in files}
    for folder in sorted(p for p in data.iterdir() if p.is_dir()):
        if folder.name not in services:
            removed += _remove(folder)
            continue
        latest = _latest_version(folder, files[0])
        for version in sorted(p for p in folder.iterdir()):
            if version != latest:
                removed += _remove(version)
                continue
            for path in sorted(version.iterdir()):
                if _stem(path.name) not in wanted:
                    removed += _remove(path)
    return removed


def endpoint_prefixes(data: Path, services: tuple[str, ...]) -> set[str]:
    """The keys of ``endpoints.json`` a client of each service looks up: its name and its
    endpoint prefix (sesv2's is ``email``)."""
    keys = set(services)
    for service in services:
        latest = _latest_version(data / service, "service-2")
        if latest is None:
            raise SystemExit(f"build_layer: botocore has no service {service!r} (see SERVICES)")
        model = next(p for p in latest.iterdir() if _stem(p.name) == "service-2")
        keys.add(_read_json(model)["metadata"]["endpointPrefix"])
    return keys


def prune_endpoints(path: Path, keep: set[str]) -> int:
    """Rewrites ``endpoints.json``: every partition and its metadata, only the ``keep``
    services in each; the bytes saved."""
    before = path.stat().st_size
    endpoints = _read_json(path)
    for partition in endpoints["partitions"]:
        partition["services"] = {
            name: spec for name, spec in partition["services"].items() if name in keep
        }
    path.write_text(json.dumps(endpoints, separators=(",", ":")), encoding="utf-8")
    return before - path.stat().st_size


def prune_botocore(site: Path, services: tuple[str, ...] = SERVICES) -> int:
    """botocore's and boto3's ``data/`` down to ``services``; the bytes removed."""
    data = site / "botocore" / "data"
    if not data.is_dir():
        return 0
    missing = [s for s in services if not (data / s).is_dir()]
    if missing:
        raise SystemExit(f"build_layer: botocore has no service {', '.join(missing)} (SERVICES)")
    keep = endpoint_prefixes(data, services)
    removed = prune_service_data(data, services, SERVICE_FILES)
    for path in sorted(data.iterdir()):
        if path.is_file() and _stem(path.name) not in BOTOCORE_TOP_LEVEL:
            removed += _remove(path)
    removed += prune_endpoints(data / "endpoints.json", keep)
    boto3_data = site / "boto3" / "data"
    if boto3_data.is_dir():
        removed += prune_service_data(boto3_data, services, BOTO3_FILES)
    return removed


def prune_never_run(site: Path) -> dict[str, int]:
    """What no Lambda invocation reads: bytes removed per kind."""
    removed = dict.fromkeys([*NEVER_RUN.values(), "tests", "type stubs", "__pycache__"], 0)
    for relative, kind in NEVER_RUN.items():
        removed[kind] += _remove(site / relative)
    for path in sorted(site.rglob("*"), reverse=True):  # deepest first
        if not path.exists():
            continue
        if path.is_dir() and path.name == "__pycache__":
            removed["__pycache__"] += _remove(path)
        elif path.is_dir() and path.name == "tests" and path.parent != site:
            removed["tests"] += _remove(path)  # a package's own tests (certifi ships some)
        elif path.is_file() and path.name.endswith(TYPING_ONLY):
            removed["type stubs"] += _remove(path)
    return removed


def compiles_for(platform: str) -> bool:
    """Whether this interpreter's bytecode is the runtime's: CPython 3.13 for Lambda, any for
    this machine (whose runtime is this interpreter)."""
    if platform == HOST:
        return True
    return sys.implementation.name == "cpython" and sys.version_info[:2] == RUNTIME


def compile_bytecode(site: Path, ddir: str | None = LAMBDA_SITE, workers: int = 0) -> bool:
    """Every module under ``site`` to unchecked-hash ``.pyc`` (the source is never read to
    check it: a zip's timestamps cannot invalidate it), tracebacks naming ``ddir``."""
    return bool(
        compileall.compile_dir(
            str(site),
            ddir=ddir,
            quiet=1,
            workers=workers,
            optimize=0,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
    )


def add_package(site: Path, package: Path = PACKAGE, platform: str = LAMBDA) -> None:
    """Our package into the layer (replacing a copy already there), with its bytecode."""
    if (site / package.name).exists():
        shutil.rmtree(site / package.name)
    copy_package(package, site)
    if compiles_for(platform):
        ddir = f"{LAMBDA_SITE}/{package.name}" if platform == LAMBDA else None
        if not compile_bytecode(site / package.name, ddir):
            raise SystemExit(f"build_layer: {package.name} did not compile (above)")


def build(
    target: Path,
    platform: str = LAMBDA,
    requirements: Path = REQUIREMENTS,
    package: Path = PACKAGE,
    services: tuple[str, ...] = SERVICES,
) -> Path:
    """The layer into ``target/python`` (emptied first); that folder."""
    site = Path(target) / "python"
    if site.exists():
        shutil.rmtree(site)
    site.mkdir(parents=True)
    wheels = "arm64 wheels for CPython 3.13" if platform == LAMBDA else "this machine's wheels"
    say(f"pip install -r {requirements.name} ({wheels}) into {site}")
    install(requirements, site, platform)
    installed = _size(site)
    pruned = prune_botocore(site, services)
    say(f"botocore data: kept {', '.join(services)}; removed {pruned / 2**20:.1f} MiB")
    for kind, size in prune_never_run(site).items():
        if size:
            say(f"removed {kind}: {size / 2**10:,.1f} KiB")
    say(f"dependencies: {installed / 2**20:.1f} MiB installed, {_size(site) / 2**20:.1f} MiB kept")
    if compiles_for(platform):
        if not compile_bytecode(site, LAMBDA_SITE if platform == LAMBDA else None):
            raise SystemExit("build_layer: a module did not compile (above)")
    else:
        version = ".".join(map(str, sys.version_info[:2]))
        say(
            f"no bytecode: this build runs Python {version}, not the runtime's "
            f"{'.'.join(map(str, RUNTIME))}; the layer works but compiles every module it "
            "imports at every cold start (install python3.13 to ship bytecode)"
        )
    add_package(site, package, platform)
    count = sum(1 for _ in site.rglob("*.pyc"))
    say(f"layer: {_size(site) / 2**20:.1f} MiB, {count} unchecked-hash .pyc files")
    return site


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", type=Path, help="ARTIFACTS_DIR: the layer goes to its python/")
    parser.add_argument(
        "--platform",
        choices=(LAMBDA, HOST),
        default=LAMBDA,
        help="lambda: arm64 wheels for CPython 3.13 (default); host: this machine's",
    )
    args = parser.parse_args(argv)
    build(args.target, args.platform)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
