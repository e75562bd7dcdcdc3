"""Named presets of frozen settings objects (a :class:`alkit.Query`, a :class:`alkit.Recipe`)
with some fields replaced: one rule for every ``name, **overrides`` constructor."""

from __future__ import annotations

from dataclasses import fields, replace


def replace_settings(base, overrides: dict, what: str):
    """A copy of the dataclass instance ``base`` with ``overrides`` (field name -> value)
    applied; a ``None`` value leaves the field as it is (so optional command-line flags can be
    passed straight through). An unknown field raises ``TypeError`` naming it and listing the
    known ones; ``what`` names the kind of settings in that message (``"query"``)."""
    known = {f.name for f in fields(base)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise TypeError(f"unknown {what} setting(s) {unknown}; expected some of {sorted(known)}")
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})
