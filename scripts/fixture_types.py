"""Classes used as values in the log-server pickle fixtures.

They live at module level in a module named ``fixture_types`` so that pickle
can reference them by a stable global name (``fixture_types <Name>``) in every
protocol.  ``scripts/make-fixtures.py`` and ``test/python/check_reference.py``
put ``scripts/`` on ``sys.path`` before importing this module.
"""

import enum


class Color(enum.Enum):
    """Enum member pickles as REDUCE(fixture_types.Color, (value,)) in 0-5."""
    RED = 1
    GREEN = 2


class Thing:
    """Plain instance: NEWOBJ (proto 2+) or copy_reg._reconstructor (0/1),
    then BUILD with the instance __dict__ when it is non-empty."""

    def __init__(self, **attrs):
        self.__dict__.update(attrs)


class MyStr(str):
    """str subclass: NEWOBJ(MyStr, ('value',)) in 2+,
    copy_reg._reconstructor(MyStr, __builtin__.unicode, 'value') in 0/1."""


__all__ = ["Color", "Thing", "MyStr"]
