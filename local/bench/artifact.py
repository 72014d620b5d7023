"""Artifact size: the layer as ``sam build`` makes it, and each function's own code.

The layer is built by the script ``sam build`` runs for the template (``BuildMethod: makefile``:
layers/booking/Makefile runs layers/booking/build_layer.py), imported here: ``pip install -r
layers/booking/requirements.txt --target``, arm64 wheels for CPython 3.13, botocore's data pruned
to the services the code uses, what never runs removed, our ``booking`` package added, and
unchecked-hash bytecode compiled when this interpreter is 3.13 (the runtime's version). It is
built into a temporary folder kept between runs for the same requirements and the same script
(only our package is copied again each time). The launch measurements import the same build for
this machine (``build(for_lambda=False)``). Where PyPI cannot be reached, ``.aws-sam/build`` is
read when present, else the venv's installed copies of the same distributions (then said in the
report).

Sizes: unzipped (the sum of the files, bytecode included, what counts against Lambda's 250 MiB),
and zipped (deflate, as SAM uploads it). "Without boto3" drops boto3 and what only it needs
(botocore, s3transfer, ...), which the Lambda Python runtime also ships (with every service's
data: the layer keeps its own, pruned, copy on purpose).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
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
from types import ModuleType

from local.template import REPO_ROOT, Template

LAYER = REPO_ROOT / "layers" / "booking"
REQUIREMENTS = LAYER / "requirements.txt"
#: The layer's build, as ``sam build`` runs it (layers/booking/Makefile).
BUILDER = LAYER / "build_layer.py"
SAM_LAYER = REPO_ROOT / ".aws-sam" / "build" / "BookingLayer" / "python"
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
    bytecode_files: int  # .pyc files in the layer measured
    sam_bytecode_files: int | None  # in .aws-sam/build's layer, when it exists

    def raw(self, skip: tuple[str, ...] = ()) -> int:
        return sum(p.raw for name, p in self.packages.items() if name not in skip)

    def zipped(self, skip: tuple[str, ...] = ()) -> int:
        return sum(p.zipped for name, p in self.packages.items() if name not in skip) + 22

    def biggest(self, count: int = 6) -> list[Package]:
        return sorted(self.packages.values(), key=lambda p: p.raw, reverse=True)[:count]


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.cache
def builder() -> ModuleType:
    """layers/booking/build_layer.py, the script ``sam build`` runs: one build for both."""
    spec = importlib.util.spec_from_file_location("build_layer", BUILDER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(for_lambda: bool = True, requirements: Path = REQUIREMENTS) -> Path | None:
    """The layer built by layers/booking/build_layer.py as ``sam build`` runs it (or, for a
    function's own ``requirements``, its ``pip install`` alone, as ``sam build`` installs
    them), into a temporary folder kept for the next run: for Lambda (arm64 wheels, CPython
    3.13) or for this machine (what the launch and warm measurements import). The folder the
    packages are in; None when pip cannot do it (PyPI not reached)."""
    script = builder()
    platform = script.LAMBDA if for_lambda else script.HOST
    flavour = "arm64" if for_lambda else "host"
    is_layer = requirements.resolve() == REQUIREMENTS.resolve()
    digest = hashlib.sha256(
        requirements.read_bytes()
        + BUILDER.read_bytes()
        + " ".join((sys.version, platform, str(is_layer))).encode()
    ).hexdigest()
    target = Path(tempfile.gettempdir()) / f"booking-webhook-bench-{flavour}-{digest[:16]}"
    site = target / "python"
    # The builder's progress goes to stderr: stdout is the bench's table.
    with contextlib.redirect_stdout(sys.stderr):
        if (target / ".complete").exists():
            if is_layer:  # our package as it is now, not as it was when the layer was built
                script.add_package(site, platform=platform)
            return site
        try:
            if is_layer:
                script.build(target, platform)
            else:
                site.mkdir(parents=True, exist_ok=True)
                script.install(requirements, site, platform)
        except (subprocess.CalledProcessError, SystemExit, OSError) as error:
            print(f"the layer's build failed: {error}", file=sys.stderr)
            return None
    (target / ".complete").write_text("build finished\n")
    return site


def _site_packages(folder: Path) -> dict[str, Package]:
    """Every file of an installed layer, by the distribution its RECORD names it in (a
    module's bytecode goes with the module; our package is ``booking``)."""
    packages: dict[str, Package] = {}
    owners: dict[str, Package] = {}
    for info in folder.glob("*.dist-info"):
        dist = metadata.Distribution.at(info)
        name = _key(dist.metadata["Name"])
        package = packages.setdefault(name, Package(name))
        for requirement in dist.requires or []:
            if "extra ==" not in requirement:
                package.requires.add(_key(re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0]))
        for entry in dist.files or []:
            owners[entry.as_posix()] = package
    if (folder / "booking").is_dir():
        packages["booking"] = Package("booking")
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(folder).as_posix()
        owner = owners.get(relative) or owners.get(_source_of(relative))
        if owner is None and relative.startswith("booking/"):
            owner = packages["booking"]
        if owner is not None:  # else not installed by pip (a build's own marker files)
            owner.files.append((path, f"python/{relative}"))
    return packages


def _source_of(relative: str) -> str:
    """``a/b.py`` of ``a/__pycache__/b.cpython-313.pyc``."""
    parts = relative.split("/")
    if len(parts) < 2 or parts[-2] != "__pycache__" or not parts[-1].endswith(".pyc"):
        return relative
    return "/".join([*parts[:-2], parts[-1].split(".", 1)[0] + ".py"])


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
        source = "layers/booking/build_layer.py, arm64 wheels, as sam build runs it"
        packages = _site_packages(built)
    elif SAM_LAYER.is_dir():
        source = ".aws-sam/build (PyPI not reached)"
        packages = _site_packages(SAM_LAYER)
    else:
        source = (
            "the venv's installed copies (PyPI not reached; x86_64 wheels, not arm64, not "
            "pruned, no bytecode)"
        )
        packages = _installed(_requirements())
    if "booking" not in packages:  # our package's sources, as a layer without bytecode has them
        ours = Package("booking")
        base = LAYER / "booking"
        ours.files = [
            (path, f"python/booking/{path.relative_to(base)}")
            for path in sorted(base.rglob("*"))
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
        ]
        packages["booking"] = ours
    _measure_zip(packages)
    bytecode = sum(1 for p in packages.values() for path, _ in p.files if path.suffix == ".pyc")
    sam_bytecode = sum(1 for _ in SAM_LAYER.rglob("*.pyc")) if SAM_LAYER.is_dir() else None
    return LayerSize(source, packages, _only_for("boto3", packages), bytecode, sam_bytecode)


def subfolders(package: Package, depth: int = 2) -> dict[str, int]:
    """Bytes per sub-folder of a package (phonenumbers: its metadata and data sets)."""
    sizes: dict[str, int] = defaultdict(int)
    for path, name in package.files:
        # A module's bytecode counts with the folder of its module.
        parts = [part for part in name.split("/")[1:] if part != "__pycache__"][:depth]
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
