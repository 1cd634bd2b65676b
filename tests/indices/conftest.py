"""Fixtures of the pure index tests: the worked example, loaded without any database."""

from __future__ import annotations

from typing import Any

import pytest

from indices import ContractRow, IndexRun, compute_from_rows
from tests.indices.example import EXAMPLE_DIR, load_expected, load_rows


@pytest.fixture(scope="session")
def example_rows() -> list[ContractRow]:
    if not (EXAMPLE_DIR / "contracts.csv").exists():
        pytest.skip(f"the worked example is not at {EXAMPLE_DIR}")
    return load_rows()


@pytest.fixture(scope="session")
def expected_indices() -> dict[str, Any]:
    if not (EXAMPLE_DIR / "expected_indices.json").exists():
        pytest.skip(f"the worked example is not at {EXAMPLE_DIR}")
    return load_expected()


@pytest.fixture(scope="session")
def example_run(example_rows: list[ContractRow], expected_indices: dict[str, Any]) -> IndexRun:
    return compute_from_rows(example_rows, expected_indices["through"])
