"""Fixtures for running workflows under act (tests/helpers/act.py)."""

from __future__ import annotations

from tests.helpers.act import act_runner, ci_ml_action, vendored_actions

__all__ = ["act_runner", "ci_ml_action", "vendored_actions"]
