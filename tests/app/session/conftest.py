"""Fixtures shared by the session tests."""

from __future__ import annotations

import pytest

from . import register_test_kinds, unregister_test_kinds


@pytest.fixture
def test_kinds():
    """The stand-in stage kinds of this package registered for one test, then removed."""
    register_test_kinds()
    yield
    unregister_test_kinds()
