"""Shared fixtures: where the vectors are, and a guard that the INSTALLED package is under test."""

from __future__ import annotations

from pathlib import Path
import pytest

import wiremesh

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO / "tests" / "vectors"
SOURCE_TREE = REPO / "bindings-python" / "python"


def pytest_configure(config: pytest.Config) -> None:
    module_path = Path(wiremesh.__file__).resolve()
    if SOURCE_TREE in module_path.parents:
        raise pytest.UsageError(
            f"wiremesh was imported from the source tree ({module_path}); "
            "run the tests against the installed package (see bindings-python/run-tests.sh)"
        )


@pytest.fixture(scope="session")
def vectors() -> Path:
    assert VECTORS.is_dir(), VECTORS
    return VECTORS
