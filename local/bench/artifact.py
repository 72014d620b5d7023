"""Artifact size: the layer as ``sam build`` makes it, and each function's own code.

The layer is built the way SAM builds it for the template (``BuildMethod: python3.13``,
``BuildArchitecture: arm64``): ``pip install -r layers/booking/requirements.txt --target``,
arm64 wheels for CPython 3.13, sources only (no bytecode: SAM ships none), into a temporary
folder kept between runs for the same requirements; plus our ``booking`` package. Where PyPI
cannot be reached, ``.aws-sam/build`` is read when present, else the venv's installed copies of
the same distributions (then said in the report).

Sizes: unzipped (the sum of the files, what counts against Lambda's 250 MiB), and zipped
(deflate, as SAM uploads it). "Without boto3" drops boto3 and what only it needs (botocore,
s3transfer, ...), which the Lambda Python runtime already ships.
"""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
import sys
import tempfile
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from local.template import REPO_ROOT, Template

LAYER = REPO_ROOT / "layers" / "booking"
REQUIREMENTS = LAYER / "requirements.txt"
SAM_LAYER = REPO_ROOT / ".aws-sam" / "build" / "BookingLayer" / "python"
PLATFORM = ("--platform", "manylinux2014_aarch64", "--implementation", "cp", "--python-version",
            "3.13", "--only-binary=:all:")  # fmt: skip
#: The size of a zip entry's two headers, besides its name (twice) and compressed data.
ZIP_ENTRY_OVERHEAD = 30 + 46
MIB = 2**20


@dataclass
class Package:
    name: str
    files: list[tuple[Path, str]] = field(default_factory=list)
    requires: set[str] = field(default_factory=set)
    raw: int = 0
    zipped: int = 0


@dataclass
class LayerSize:
    source: str
    packages: dict[str, Package]
    without: tuple[str, ...]
    bytecode_files: int | None  # in .aws-sam/build, when it exists

    def raw(self, skip: tuple[str, ...] = ()) -> int:
        return sum(p.raw for name, p in self.packages.items() if name not in skip)

    def zipped(self, skip: tuple[str, ...] = ()) -> int:
        return sum(p.zipped for name, p in self.packages.items() if name not in skip) + 22

    def biggest(self, count: int = 6) -> list[Package]:
        return sorted(self.packages.values(), key=lambda p: p.raw, reverse=True)[:count]


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def build(for_lambda: bool = True, requirements: Path = REQUIREMENTS) -> Path | None:
    """The layer's dependencies (or a function's, from its own ``requirements``), installed from
    PyPI as ``sam build`` installs them, into a temporary folder kept for the next run: for
    Lambda (arm64 wheels, CPython 3.13) or for this machine (what the launch and warm
    measurements import). None when pip cannot do it."""
    platform = PLATFORM if for_lambda else ()
    flavour = "arm64" if for_lambda else "host"
    digest = hashlib.sha256(
        requirements.read_bytes() + " ".join((sys.version, *platform)).encode()
    ).hexdigest()
    target = Path(tempfile.gettempdir()) / f"booking-webhook-bench-{flavour}-{digest[:16]}"
    if (target / ".complete").exists():
        return target
    installed = subprocess.run(  # noqa: S603 - pip of our own interpreter
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-compile", "--upgrade", "--target", str(target), *platform, "-r", str(requirements)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )  # fmt: skip
    if installed.returncode != 0:
        return None
    (target / ".complete").write_text("pip install finished\n")
    return target


def _site_packages(folder: Path) -> dict[str, Package]:
    packages: dict[str, Package] = {}
    for info in folder.glob("*.dist-info"):
        dist = metadata.Distribution.at(info)
        name = _key(dist.metadata["Name"])
        package = packages.setdefault(name, Package(name))
        for requirement in dist.requires or []:
            if "extra ==" not in requirement:
                package.requires.add(_key(re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0]))
        for entry in dist.files or []:
            path = folder / str(entry)
            if path.is_file() and "__pycache__" not in path.parts:
                package.files.append((path, f"python/{entry}"))
    return packages


def _installed(names: list[str]) -> dict[str, Package]:
    """The venv's copies of the runtime distributions and their dependencies."""
    packages: dict[str, Package] = {}
    todo = list(names)
    while todo:
        name = _key(todo.pop())
        if name in packages:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        package = packages.setdefault(name, Package(name))
        for requirement in dist.requires or []:
            if "extra ==" not in requirement:
                dep = _key(re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0])
                package.requires.add(dep)
                todo.append(dep)
        for entry in dist.files or []:
            path = Path(str(dist.locate_file(entry)))
            if path.is_file() and "__pycache__" not in path.parts:
                package.files.append((path, f"python/{entry}"))
    return packages


def _requirements() -> list[str]:
    lines = REQUIREMENTS.read_text().splitlines()
    return [
        re.split(r"[ ;<>=!~\[]", line.strip(), maxsplit=1)[0]
        for line in lines
        if line.strip() and not line.startswith("#")
    ]


def _only_for(root: str, packages: dict[str, Package]) -> tuple[str, ...]:
    """``root`` and the distributions that nothing but it (directly or not) needs."""

    def closure(starts: list[str]) -> set[str]:
        seen: set[str] = set()
        todo = list(starts)
        while todo:
            name = todo.pop()
            if name in seen or name not in packages:
                continue
            seen.add(name)
            todo.extend(packages[name].requires)
        return seen

    wanted = [_key(name) for name in _requirements()]
    others = closure([name for name in wanted if name != root] + ["booking"])
    return tuple(sorted(closure([root]) - others))


def _measure_zip(packages: dict[str, Package]) -> None:
    """Zip everything once (deflate, as SAM does) and keep each package's share."""
    buffer = io.BytesIO()
    owner: dict[str, Package] = {}
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for package in packages.values():
            for path, name in package.files:
                package.raw += path.stat().st_size
                archive.write(path, name)
                owner[name] = package
    with zipfile.ZipFile(buffer) as archive:
        for info in archive.infolist():
            overhead = ZIP_ENTRY_OVERHEAD + 2 * len(info.filename.encode()) + len(info.extra)
            owner[info.filename].zipped += info.compress_size + overhead


def layer(offline: bool = False) -> LayerSize:
    built = None if offline else build()
    if built is not None:
        source = "pip install --target, arm64 wheels, as sam build"
        packages = _site_packages(built)
    elif SAM_LAYER.is_dir():
        source = ".aws-sam/build (PyPI not reached)"
        packages = _site_packages(SAM_LAYER)
    else:
        source = "the venv's installed copies (PyPI not reached; x86_64 wheels, not arm64)"
        packages = _installed(_requirements())
    ours = Package("booking")
    base = LAYER / "booking"
    ours.files = [
        (path, f"python/booking/{path.relative_to(base)}")
        for path in sorted(base.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    ]
    packages["booking"] = ours
    _measure_zip(packages)
    bytecode = sum(1 for _ in SAM_LAYER.rglob("*.pyc")) if SAM_LAYER.is_dir() else None
    return LayerSize(source, packages, _only_for("boto3", packages), bytecode)


def subfolders(package: Package, depth: int = 2) -> dict[str, int]:
    """Bytes per sub-folder of a package (phonenumbers: its metadata and data sets)."""
    sizes: dict[str, int] = defaultdict(int)
    for path, name in package.files:
        parts = name.split("/")[1 : 1 + depth]
        key = "/".join(parts[:-1]) if len(parts) > 1 and "." in parts[-1] else "/".join(parts)
        sizes[key] += path.stat().st_size
    return dict(sorted(sizes.items(), key=lambda item: item[1], reverse=True))


def functions(offline: bool = False) -> dict[str, tuple[int, int, int | None]]:
    """Each function's own code (its CodeUri folder): unzipped and zipped bytes, and the
    unzipped size of its own requirements as ``sam build`` adds them to its artifact (None when
    it has none, or PyPI was not reached)."""
    sizes = {}
    for logical_id, spec in Template().functions().items():
        files = [
            path
            for path in sorted(spec.code_dir.rglob("*"))
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
        ]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, str(path.relative_to(spec.code_dir)))
        requirements = spec.code_dir / "requirements.txt"
        deps = None
        if requirements.is_file() and not offline:
            built = build(for_lambda=True, requirements=requirements)
            if built is not None:
                deps = sum(p.raw for p in _measured(_site_packages(built)).values())
        sizes[logical_id] = (sum(p.stat().st_size for p in files), len(buffer.getvalue()), deps)
    return sizes


def _measured(packages: dict[str, Package]) -> dict[str, Package]:
    for package in packages.values():
        package.raw = sum(path.stat().st_size for path, _ in package.files)
    return packages
