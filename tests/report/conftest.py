"""Shared fixtures of the report tests: one SYNTHETIC score file, scored once per session."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.report.fixtures import score_doc


@pytest.fixture(scope="session")
def _score_doc() -> dict[str, Any]:
    return score_doc()


@pytest.fixture
def doc(_score_doc: dict[str, Any]) -> dict[str, Any]:
    """A fresh copy of the score JSON (tests may edit it)."""
    return copy.deepcopy(_score_doc)


@pytest.fixture
def score_file(doc: dict[str, Any], tmp_path: Path) -> Path:
    p = tmp_path / "usi_scores.json"
    p.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return p


@pytest.fixture
def elo_csv(tmp_path: Path) -> Path:
    """Capability scores for the three synthetic simulators and one that was not scored."""
    p = tmp_path / "elo.csv"
    p.write_text(
        "simulator,score,label\n"
        "synthetic-gpt-polite,1310,polite (1310)\n"
        "SYNTHETIC-PERSONA,1250,\n"
        "synthetic-mimic,1190,mimic\n"
        "synthetic-not-scored,1400,\n",
        encoding="utf-8",
    )
    return p
