"""Only the package list lives here (metadata is in pyproject.toml): the built-in suites/ and
models/ folders are shipped as the packages harness._suites and harness._presets, which a
pyproject `packages.find` cannot list because they are not below harness/.

Data folders (templates, probe data) are listed as namespace packages, so setuptools ships them
without warning that an importable folder is missing from `packages`."""

from pathlib import Path

from setuptools import find_namespace_packages, setup


def data_packages(folder: str, package: str) -> list[str]:
    """`package` and one dotted name per sub-folder of `folder` (its data folders)."""
    root = Path(__file__).parent / folder
    subs = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_dir() and "__pycache__" not in p.parts)
    return [package] + [".".join((package, *p.parts)) for p in subs]


setup(
    packages=find_namespace_packages(include=["harness", "harness.*"], exclude=["harness._*"])
    + data_packages("suites", "harness._suites")
    # Only models/data: trained checkpoints land in other folders under models/ and must not ship.
    + ["harness._presets", "harness._presets.data"],
)
