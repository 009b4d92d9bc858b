"""pyproject.toml and environment.yml describe the same environment."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
# PyPI name -> conda-forge name, where they differ.
CONDA_NAMES = {"torch": "pytorch", "pillow": "pillow"}
SPEC = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$")


def _parse(spec: str) -> tuple[str, str]:
    m = SPEC.match(spec)
    assert m, spec
    return m.group(1).lower(), m.group(2).replace(" ", "")


def _pyproject() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    specs = list(data["project"]["dependencies"]) + list(
        data["project"]["optional-dependencies"]["dev"]
    )
    return dict(_parse(s) for s in specs)


def _environment() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    out: dict[str, str] = {}
    for item in env["dependencies"]:
        if isinstance(item, dict):
            for pip_spec in item["pip"]:
                if not pip_spec.startswith("-e"):
                    name, ver = _parse(pip_spec)
                    out[name] = ver
        else:
            name, ver = _parse(item)
            out[name] = ver
    return out


def test_every_pyproject_dependency_is_in_environment_yml_with_the_same_bound():
    env = _environment()
    for name, bound in _pyproject().items():
        conda_name = CONDA_NAMES.get(name, name)
        assert conda_name in env, f"{name} (conda: {conda_name}) missing from environment.yml"
        assert env[conda_name] == bound, (
            f"{name}: pyproject {bound!r} vs environment.yml {env[conda_name]!r}"
        )


def test_environment_yml_has_nothing_pyproject_lacks():
    py = {CONDA_NAMES.get(n, n) for n in _pyproject()}
    extra = set(_environment()) - py - {"python", "pip"}
    assert not extra, f"environment.yml lists packages pyproject.toml does not: {sorted(extra)}"


def test_declared_course_stack_is_present():
    deps = _pyproject()
    for name in (
        "torch",
        "torchvision",
        "jupyterlab",
        "ipywidgets",
        "matplotlib",
        "scikit-learn",
        "umap-learn",
        "lpips",
        "nbval",
    ):
        assert name in deps, name
