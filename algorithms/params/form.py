"""A whole form: a form_config parsed into ``ParamField``s (``parse_form``), and parameters resolved against
its fields (``resolve_values``) — defaults filled, values read, fields whose ``depends_on`` is not met left
out. The catalog checks a job's parameters with it against the form it stores, an algorithm against the
fields of its parameter model (``algorithms.params.model``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from algorithms.params.fields import ParamField, SpecError
from algorithms.params.values import InvalidValue, quote

# What to do with a value given for a field whose depends_on is not met.
Inactive = Literal["refuse", "drop"]


def parse_form(form_config: Any) -> list[ParamField]:
    """The fields of a form_config in form order, or SpecError saying what is malformed."""
    if not isinstance(form_config, dict) or not isinstance(form_config.get("fields"), list):
        raise SpecError('form_config must be an object with a "fields" list')
    extra = sorted(set(form_config) - {"fields"})
    if extra:
        raise SpecError(f"form_config: unknown key(s) {', '.join(extra)}")
    fields = [ParamField.parse(raw, i) for i, raw in enumerate(form_config["fields"], 1)]
    check_fields(fields)
    return fields


def check_fields(fields: Sequence[ParamField]) -> None:
    """Fields that make one form: names unique, each depends_on naming another non-list field with a value it
    can take, no cycle (SpecError otherwise)."""
    by_name: dict[str, ParamField] = {}
    for f in fields:
        if f.name in by_name:
            raise SpecError(f"{f.name}: defined twice")
        by_name[f.name] = f
    for f in fields:
        for dep, expected in f.depends_on.items():
            target = by_name.get(dep) if dep != f.name else None
            if target is None:
                raise SpecError(f"{f.name}: depends_on refers to unknown field {quote(dep)}")
            if target.type in ("list", "regex_list"):
                raise SpecError(f"{f.name}: cannot depend on list field {quote(dep)}")
            for value in expected if isinstance(expected, list) else [expected]:
                try:
                    target.lenient().coerce(value)
                except InvalidValue as exc:
                    raise SpecError(f"{f.name}: depends_on value is impossible: {exc}") from None
    dependency_order(fields)


def dependency_order(fields: Sequence[ParamField]) -> list[ParamField]:
    """Fields with every dependency before its dependents (a cycle is refused)."""
    by_name = {f.name: f for f in fields}
    done: dict[str, ParamField] = {}
    visiting: set[str] = set()

    def visit(f: ParamField) -> None:
        if f.name in done:
            return
        if f.name in visiting:
            raise SpecError(f"{f.name}: depends_on forms a cycle")
        visiting.add(f.name)
        for dep in f.depends_on:
            visit(by_name[dep])
        visiting.discard(f.name)
        done[f.name] = f

    for f in fields:
        visit(f)
    return list(done.values())


def resolve_values(
    fields: Sequence[ParamField], params: Mapping[str, Any], *, inactive: Inactive
) -> tuple[dict[str, Any], dict[str, InvalidValue]]:
    """(values of every active field in form order — None for an optional field left empty —, the problem of
    each field refused). Names in ``params`` that are no field are the caller's to judge. None means "not
    given": the default applies. A field whose dependency was refused is skipped, not judged."""
    values: dict[str, Any] = {}
    errors: dict[str, InvalidValue] = {}
    failed: set[str] = set()  # refused, or depending on a field that was
    for f in dependency_order(fields):
        if failed.intersection(f.depends_on):
            failed.add(f.name)
            continue
        given = params.get(f.name)
        if not f.is_active(values):
            if given is not None and inactive == "refuse":
                conditions = " and ".join(f"{d} is {quote(v)}" for d, v in f.depends_on.items())
                errors[f.name] = InvalidValue("inactive", f.name, conditions=conditions)
            continue
        try:
            values[f.name] = f.coerce(f.default if given is None else given)
        except InvalidValue as exc:
            errors[f.name] = exc
            failed.add(f.name)
    return {f.name: values[f.name] for f in fields if f.name in values}, errors
