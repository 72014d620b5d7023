"""BookingLayer's build (layers/booking/build_layer.py, run by sam build through
layers/booking/Makefile): the AWS services the code uses are the ones it keeps, the pruned
botocore data still makes every client the code makes (and no other), what never runs is gone,
and the bytecode it ships is what Python imports without reading the source. No network: pip is
never run here."""

from __future__ import annotations

import importlib.util
import json
import marshal
import re
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import botocore
import botocore.session
import build_layer
import pytest
from botocore.exceptions import UnknownServiceError
from botocore.loaders import Loader
from cfnlint.decode import decode

from local.bench import artifact

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "booking"
CODE = (LAYER / "booking", ROOT / "functions")
BOTOCORE_DATA = Path(botocore.__file__).parent / "data"
BOTO3_DATA = Path(boto3.__file__).parent / "data"
#: A service the code does not use, whose data the build must drop.
UNUSED = "s3"
#: boto3 clients and resources made from a literal service name: ``aws_client("sqs")``,
#: ``boto3.client("events")``, ``session.create_client(...)``, ``boto3.resource(...)``.
CLIENT_CALL = re.compile(
    r"""(?:\baws_client|\.client|\bcreate_client|\.resource)\(\s*["']([\w-]+)["']"""
)


def _code_files() -> list[Path]:
    return [
        path
        for folder in CODE
        for path in sorted(folder.rglob("*.py"))
        if "__pycache__" not in path.parts
    ]


def test_the_layer_keeps_exactly_the_aws_services_the_code_names() -> None:
    named: dict[str, list[str]] = {}
    for path in _code_files():
        for service in CLIENT_CALL.findall(path.read_text(encoding="utf-8")):
            named.setdefault(service, []).append(str(path.relative_to(ROOT)))
    assert named, "the scan found no aws_client(...): has the way clients are made changed?"
    missing = {
        service: where for service, where in named.items() if service not in build_layer.SERVICES
    }
    assert not missing, (
        f"botocore's data for {sorted(missing)} is pruned from the layer: add them to SERVICES in "
        f"layers/booking/build_layer.py (named in {missing})"
    )
    unused = set(build_layer.SERVICES) - set(named)
    assert not unused, f"SERVICES keeps {sorted(unused)}, which no code makes a client for"


def test_powertools_swagger_ui_is_never_served() -> None:
    # The build drops its JavaScript and CSS (1.6 MiB); enable_swagger() would serve them.
    for path in _code_files():
        assert "enable_swagger" not in path.read_text(encoding="utf-8"), path


# ----------------------------------------------------------------------------------------------
# Pruning


def _copy_botocore_data(site: Path, services: tuple[str, ...]) -> Path:
    """botocore's top-level data files and ``services``' folders, from the venv's botocore, and
    boto3's resource models: a small layer to prune."""
    data = site / "botocore" / "data"
    data.mkdir(parents=True)
    for path in BOTOCORE_DATA.iterdir():
        if path.is_file():
            shutil.copy2(path, data / path.name)
    for service in services:
        shutil.copytree(BOTOCORE_DATA / service, data / service)
    shutil.copytree(BOTO3_DATA, site / "boto3" / "data")
    return data


@pytest.fixture(scope="module")
def pruned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("layer") / "python"
    _copy_botocore_data(site, (*build_layer.SERVICES, UNUSED))
    assert build_layer.prune_botocore(site) > 0
    return site


def _session(data: Path, monkeypatch: pytest.MonkeyPatch) -> botocore.session.Session:
    """A botocore session whose data comes from ``data`` alone."""
    for variable in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_DEFAULTS_MODE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(data / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(data / "no-credentials"))
    session = botocore.session.Session()
    loader = Loader(extra_search_paths=[str(data)], include_default_search_paths=False)
    session.register_component("data_loader", loader)
    return session


def test_pruned_data_makes_a_client_of_every_kept_service_and_of_no_other(
    pruned: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = pruned / "botocore" / "data"
    session = _session(data, monkeypatch)
    keys = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "y"}
    for service in build_layer.SERVICES:
        client = session.create_client(service, **keys)
        assert client.meta.service_model.service_name == service
        # The endpoint comes from the pruned ruleset and partitions (sesv2's prefix is "email").
        prefix = client.meta.service_model.endpoint_prefix
        assert client.meta.endpoint_url == f"https://{prefix}.us-east-1.amazonaws.com"
    dynamodb = session.create_client("dynamodb", **keys)
    dynamodb.get_waiter("table_exists")  # waiters-2
    dynamodb.get_paginator("scan")  # paginators-1
    with pytest.raises(UnknownServiceError):
        session.create_client(UNUSED, **keys)


def test_pruned_data_keeps_the_latest_version_of_each_kept_service_and_what_botocore_reads(
    pruned: Path,
) -> None:
    data = pruned / "botocore" / "data"
    assert sorted(p.name for p in data.iterdir() if p.is_dir()) == sorted(build_layer.SERVICES)
    assert sorted(p.name for p in data.iterdir() if p.is_file()) == [
        "_retry.json",
        "endpoints.json",
        "partitions.json",
        "sdk-default-configuration.json",
    ]
    for service in build_layer.SERVICES:
        (version,) = (data / service).iterdir()
        assert version.name == max(p.name for p in (BOTOCORE_DATA / service).iterdir())
        kinds = {name.split(".json")[0] for name in (p.name for p in version.iterdir())}
        assert "service-2" in kinds
        assert "endpoint-rule-set-1" in kinds
        assert kinds <= {*build_layer.SERVICE_FILES, "service-2.sdk-extras"}
    assert (data / "secretsmanager" / "2017-10-17" / "service-2.sdk-extras.json").is_file()
    boto3_data = pruned / "boto3" / "data"
    assert {p.name for p in boto3_data.iterdir()} == set(build_layer.SERVICES) & {
        p.name for p in BOTO3_DATA.iterdir()
    }


def test_pruned_endpoints_keep_every_partition_with_the_kept_services_only(pruned: Path) -> None:
    original = json.loads((BOTOCORE_DATA / "endpoints.json").read_text())
    endpoints = json.loads((pruned / "botocore" / "data" / "endpoints.json").read_text())
    assert endpoints["version"] == original["version"]
    assert [p["partition"] for p in endpoints["partitions"]] == [
        p["partition"] for p in original["partitions"]
    ]
    keep = {"dynamodb", "events", "secretsmanager", "sesv2", "sqs", "email"}
    for partition, before in zip(endpoints["partitions"], original["partitions"], strict=True):
        assert {k: v for k, v in partition.items() if k != "services"} == {
            k: v for k, v in before.items() if k != "services"
        }
        assert set(partition["services"]) == keep & set(before["services"]), partition["partition"]
        for name, spec in partition["services"].items():
            assert spec == before["services"][name]
    (aws,) = (p for p in endpoints["partitions"] if p["partition"] == "aws")
    assert {"dynamodb", "events", "secretsmanager", "sqs", "email"} <= set(aws["services"])
    assert UNUSED not in aws["services"]


def test_a_service_botocore_lacks_fails_the_build(tmp_path: Path) -> None:
    site = tmp_path / "python"
    _copy_botocore_data(site, ("sqs",))
    with pytest.raises(SystemExit, match="sqs-typo"):
        build_layer.prune_botocore(site, ("sqs", "sqs-typo"))


def test_what_never_runs_on_lambda_is_removed(tmp_path: Path) -> None:
    site = tmp_path / "python"
    swagger = site / "aws_lambda_powertools" / "event_handler" / "openapi" / "swagger_ui"
    files = {
        "bin/httpx": "#!/build/machine/python\n",
        "boto3/examples/s3.rst": "docs\n",
        "certifi/tests/test_certify.py": "",
        "certifi/cacert.pem": "certificates\n",
        "pkg/__init__.py": "",
        "pkg/mod.py": "VALUE = 1\n",
        "pkg/mod.pyi": "VALUE: int\n",
        "pkg/py.typed": "",
        "pkg/__pycache__/mod.cpython-311.pyc": "stale",
        "tests/__init__.py": "",  # a top-level package named tests is someone's code: kept
    }
    for name, text in files.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(text)
    swagger.mkdir(parents=True)
    for name in ("swagger-ui-bundle.min.js", "swagger-ui.min.css", "html.py"):
        (swagger / name).write_text("x")

    removed = build_layer.prune_never_run(site)

    left = sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file())
    assert left == [
        "aws_lambda_powertools/event_handler/openapi/swagger_ui/html.py",
        "certifi/cacert.pem",
        "pkg/__init__.py",
        "pkg/mod.py",
        "tests/__init__.py",
    ]
    assert removed["console scripts"] > 0
    assert removed["Swagger UI"] == 2


# ----------------------------------------------------------------------------------------------
# Bytecode


def _package(site: Path, name: str = "tinypkg") -> Path:
    package = site / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text("VALUE = 1\n")
    return package


def _recorded_path(pyc: Path) -> str:
    """The source path a ``.pyc`` names (importing it puts the real one in its place: on
    Lambda, the same ``/opt/python/...``)."""
    code = marshal.loads(pyc.read_bytes()[16:])
    return str(code.co_filename)


def _import_report(site: Path, module: str) -> list[str]:
    """A fresh ``python -B -S`` (nothing written, nothing of the venv) importing ``module``:
    its ``VALUE`` and the bytecode file it was loaded from."""
    script = f"import {module} as m; print(m.VALUE); print(m.__spec__.cached)"
    result = subprocess.run(
        [sys.executable, "-B", "-S", "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site)},
    )
    return result.stdout.splitlines()


def test_shipped_bytecode_is_unchecked_and_imported_without_reading_the_source(
    tmp_path: Path,
) -> None:
    site = tmp_path / "python"
    package = _package(site)
    assert build_layer.compile_bytecode(site, "/opt/python", workers=1)

    source = package / "mod.py"
    cached = Path(importlib.util.cache_from_source(str(source)))
    header = cached.read_bytes()[:16]
    assert int.from_bytes(header[4:8], "little") == 0b01  # hash-based, never checked
    assert _recorded_path(cached) == "/opt/python/tinypkg/mod.py"
    # A changed source (as a zip's timestamps would look) does not invalidate it: only the
    # bytecode is read, from a read-only folder, with nothing written.
    source.write_text("VALUE = 2\n")
    site.chmod(0o555)
    try:
        value, used = _import_report(site, "tinypkg.mod")
    finally:
        site.chmod(0o755)
    assert value == "1"
    assert used == str(cached)


def test_bytecode_is_compiled_only_by_the_runtimes_python_for_lambda() -> None:
    assert build_layer.compiles_for(build_layer.HOST)
    runtime = sys.implementation.name == "cpython" and sys.version_info[:2] == (3, 13)
    assert build_layer.compiles_for(build_layer.LAMBDA) is runtime


# ----------------------------------------------------------------------------------------------
# The whole build, pip stood in for


def test_build_installs_prunes_adds_our_package_and_compiles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_pip(requirements: Path, site: Path, platform: str) -> None:
        assert platform == build_layer.LAMBDA
        _copy_botocore_data(site, (*build_layer.SERVICES, UNUSED))
        (site / "bin").mkdir()
        (site / "bin" / "jp.py").write_text("#!/usr/bin/python\n")

    monkeypatch.setattr(build_layer, "install", fake_pip)
    package = _package(tmp_path / "source", "ourpkg")
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "stale.cpython-313.pyc").write_bytes(b"stale")
    target = tmp_path / "artifacts"
    (target / "python" / "left-over").mkdir(parents=True)

    site = build_layer.build(target, build_layer.LAMBDA, tmp_path / "requirements.txt", package)

    assert site == target / "python"
    assert not (site / "left-over").exists()
    assert not (site / "bin").exists()
    assert not (site / "botocore" / "data" / UNUSED).exists()
    assert (site / "ourpkg" / "mod.py").is_file()
    assert not (site / "ourpkg" / "__pycache__" / "stale.cpython-313.pyc").exists()
    compiled = Path(importlib.util.cache_from_source(str(site / "ourpkg" / "mod.py")))
    if build_layer.compiles_for(build_layer.LAMBDA):
        assert int.from_bytes(compiled.read_bytes()[4:8], "little") == 0b01
        assert _recorded_path(compiled) == "/opt/python/ourpkg/mod.py"
        assert _import_report(site, "ourpkg.mod") == ["1", str(compiled)]
    else:
        assert not list(site.rglob("*.pyc"))


# ----------------------------------------------------------------------------------------------
# How sam build and the bench run it


def test_sam_builds_the_layer_with_its_makefile() -> None:
    template, matches = decode(str(ROOT / "template.yaml"))
    assert not matches, [str(m) for m in matches]
    layer = template["Resources"]["BookingLayer"]
    assert layer["Properties"]["ContentUri"] == "layers/booking"
    assert dict(layer["Metadata"]) == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    if shutil.which("make") is None:
        pytest.skip("no make on this machine")
    dry_run = subprocess.run(
        ["make", "-s", "-n", "-C", str(LAYER), "build-BookingLayer",
         "ARTIFACTS_DIR=/tmp/artifacts", "PYTHON=python3"],
        capture_output=True,
        text=True,
        check=True,
    )  # fmt: skip
    assert f"python3 '{LAYER}/build_layer.py' '/tmp/artifacts'" in dry_run.stdout


def test_the_bench_sizes_bytecode_with_its_module(tmp_path: Path) -> None:
    site = tmp_path / "python"
    info = site / "pkg-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n")
    (info / "RECORD").write_text("pkg/__init__.py,,\npkg/mod.py,,\npkg-1.0.dist-info/METADATA,,\n")
    _package(site, "pkg")
    _package(site, "booking")
    build_layer.compile_bytecode(site, None, workers=1)
    (site / ".complete").write_text("")

    packages = artifact._site_packages(site)

    names = {name for _, name in packages["pkg"].files}
    assert (
        "python/pkg/__pycache__/mod.cpython-313.pyc".replace(
            "cpython-313", sys.implementation.cache_tag
        )
        in names
    )
    assert "python/pkg-1.0.dist-info/METADATA" in names
    assert {name for _, name in packages["booking"].files} >= {"python/booking/mod.py"}
    assert all(".complete" not in name for p in packages.values() for _, name in p.files)
