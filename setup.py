"""Only the package list lives here (metadata is in pyproject.toml): the built-in suites/ and
models/ folders are shipped as the packages harness._suites and harness._presets, which a
pyproject `packages.find` cannot list because they are not below harness/."""

from setuptools import find_packages, setup

setup(packages=find_packages(include=["harness", "harness.*"]) + ["harness._suites", "harness._presets"])
