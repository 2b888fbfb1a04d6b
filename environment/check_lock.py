"""Check that the lock pins, with hashes, every dependency pyproject.toml and requirements.in name.

    python environment/check_lock.py [--pyproject FILE] [--requirements FILE] [--lock FILE]

Sources: [build-system] requires, [project] dependencies, every list of
[project.optional-dependencies] and environment/requirements.in. Each requirement whose marker
holds on the lock's platform (Linux x86_64, CPython 3.11) must be pinned as ``name==version`` in
the lock, inside the requirement's range, with at least one sha256 hash. Exit status 1 lists every
requirement that is not; 0 says how many were checked.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import tomllib
from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parent.parent
LOCK_PLATFORM = {
    "implementation_name": "cpython",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_system": "Linux",
    "python_full_version": "3.11.7",
    "python_version": "3.11",
    "sys_platform": "linux",
}
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)")
_HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


def read_lock(path: Path) -> dict[str, tuple[Version, int]]:
    """Each pinned distribution of a pip-compile lock: canonical name -> (version, hash count)."""
    pins: dict[str, tuple[Version, int]] = {}
    current: str | None = None
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        match = _PIN.match(line)
        if match:
            try:
                version = Version(match["version"])
            except InvalidVersion as error:
                raise ValueError(f"{path}:{number}: {error}") from None
            current = canonicalize_name(match["name"])
            if current in pins:
                raise ValueError(f"{path}:{number}: {match['name']} is pinned twice")
            pins[current] = (version, 0)
        if current is not None:
            hashes = len(_HASH.findall(line))
            version, count = pins[current]
            pins[current] = (version, count + hashes)
        if not line.rstrip().endswith("\\"):
            current = None
    if not pins:
        raise ValueError(f"{path} pins nothing (expected lines such as 'name==1.0 \\')")
    return pins


def pyproject_requirements(path: Path) -> list[tuple[str, str]]:
    """(where, requirement) for the build requirements, dependencies and every extra."""
    data = tomllib.loads(path.read_text())
    found = [("build-system.requires", r) for r in data.get("build-system", {}).get("requires", [])]
    project = data.get("project", {})
    found += [("project.dependencies", r) for r in project.get("dependencies", [])]
    for extra, requirements in project.get("optional-dependencies", {}).items():
        found += [(f"project.optional-dependencies.{extra}", r) for r in requirements]
    return found


def requirements_in(path: Path) -> list[tuple[str, str]]:
    """(where, requirement) for each requirement line of a pip requirements file."""
    found = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if line:
            found.append((f"{path.name}:{number}", line))
    return found


def problems(
    requirements: list[tuple[str, str]], pins: dict[str, tuple[Version, int]], own_name: str
) -> tuple[list[str], int]:
    """Every requirement the lock does not satisfy, and how many requirements were checked."""
    found: list[str] = []
    checked = 0
    platform = {**default_environment(), **LOCK_PLATFORM, "extra": ""}
    for where, text in requirements:
        try:
            requirement = Requirement(text)
        except InvalidRequirement as error:
            found.append(f"{where}: {text!r} is not a valid requirement ({error})")
            continue
        name = canonicalize_name(requirement.name)
        if name == own_name:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate(platform):
            continue
        checked += 1
        if name not in pins:
            found.append(f"{where}: {text!r} is not pinned in the lock")
            continue
        version, hashes = pins[name]
        if not requirement.specifier.contains(version, prereleases=True):
            found.append(f"{where}: {text!r} but the lock pins {requirement.name}=={version}")
        if hashes == 0:
            found.append(f"{where}: {requirement.name}=={version} has no sha256 hash in the lock")
    return found, checked


def main(argv: list[str] | None = None) -> int:
    """Check the lock against pyproject.toml and requirements.in; print what is wrong."""
    parser = argparse.ArgumentParser(prog="check_lock.py", description=__doc__.splitlines()[0])
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    parser.add_argument(
        "--requirements", type=Path, default=ROOT / "environment" / "requirements.in"
    )
    parser.add_argument("--lock", type=Path, default=ROOT / "environment" / "requirements.lock")
    args = parser.parse_args(argv)
    for path in (args.pyproject, args.requirements, args.lock):
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist")
    pins = read_lock(args.lock)
    own_name = canonicalize_name(tomllib.loads(args.pyproject.read_text())["project"]["name"])
    requirements = pyproject_requirements(args.pyproject) + requirements_in(args.requirements)
    found, checked = problems(requirements, pins, own_name)
    for problem in found:
        print(f"check_lock: {problem}", file=sys.stderr)
    if found:
        print(f"check_lock: {len(found)} problem(s); regenerate the lock (environment/README.md)")
        return 1
    print(f"check_lock: {checked} requirements satisfied by {args.lock.name} ({len(pins)} pins)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ValueError, OSError) as error:
        print(f"check_lock: error: {error}", file=sys.stderr)
        sys.exit(2)
