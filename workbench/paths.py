"""Where the project's data lives (the package is installed editable from the repository)."""
from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = REPO_ROOT / "data"
TRANSCRIPTS_DIR = DATA_DIR / "transcripts"
DOMAINS_DIR = DATA_DIR / "domains"
RESULTS_DIR = DATA_DIR / "results"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
