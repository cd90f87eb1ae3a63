"""Validators for the UBI 1.3.0 conformance schemas in this folder.

jsonschema treats `format` as an annotation unless it is given a format checker, so without one any
string passes as a `date-time`. The checker here knows only `date-time`, written against RFC 3339
with the standard library: the optional checkers jsonschema ships depend on extra packages, and a
check that silently turns itself off when one is missing would let a zone-less timestamp through,
which is exactly what OpenSearch's `strict_date_time` drops.
"""

from __future__ import annotations

import json
import re
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

# No stubs ship for jsonschema and the project adds none (pyproject has no types-jsonschema).
from jsonschema import Draft202012Validator, FormatChecker  # type: ignore[import-untyped]
from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped]
from referencing import Registry, Resource

HERE = Path(__file__).parent
EVENT_ID = "urn:quarry:ubi:1.3.0:event"
QUERY_ID = "urn:quarry:ubi:1.3.0:query"

# ASCII digits only: `\d` would also take other scripts' digits, which RFC 3339 does not allow.
_DATE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)
_LAST_MINUTE_OF_DAY = 23 * 60 + 59
MAX_QUOTED = 60  # characters of an offending value quoted in a message


def is_rfc3339_date_time(value: object) -> bool:
    """A `format` applies to strings only; anything else is for `type` to refuse."""
    if not isinstance(value, str):
        return True
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        return False
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    sign, offset_hour, offset_minute = match.group(7), match.group(8), match.group(9)
    try:
        date(year, month, day)
    except ValueError:
        return False
    offset = 0
    if sign is not None:
        if int(offset_hour) > 23 or int(offset_minute) > 59:
            return False
        offset = (int(offset_hour) * 60 + int(offset_minute)) * (1 if sign == "+" else -1)
    if hour > 23 or minute > 59 or second > 60:
        return False
    # A leap second is only ever inserted as 23:59:60 UTC, whatever the local offset says.
    return second < 60 or (hour * 60 + minute - offset) % (24 * 60) == _LAST_MINUTE_OF_DAY


@cache
def _registry() -> Registry[Any]:
    resources = [
        Resource.from_contents(json.loads((HERE / name).read_text()))
        for name in ("event.schema.json", "query.schema.json")
    ]
    return Registry().with_resources((resource.id() or "", resource) for resource in resources)


def _format_checker() -> FormatChecker:
    checker = FormatChecker(formats=())
    checker.checks("date-time")(is_rfc3339_date_time)
    return checker


def _validator(uri: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": uri}, registry=_registry(), format_checker=_format_checker())


def event_validator(strict: bool = False) -> Draft202012Validator:
    """`strict` adds the published rule that `event_attributes` must carry a `position`; the
    default leaves it out because ubi.js sends `event_attributes` with only the `object`."""
    return _validator(f"{EVENT_ID}#/$defs/strict" if strict else EVENT_ID)


def query_validator() -> Draft202012Validator:
    return _validator(QUERY_ID)


def problems(validator: Draft202012Validator, record: object) -> list[str]:
    """Every error, not just the first, so one run shows everything a record gets wrong. An anyOf
    failure alone says only "not valid under any of the given schemas": the reasons of each branch
    are appended, since they are what tells a reader which constraint was broken."""
    return [_describe(error) for error in sorted(validator.iter_errors(record), key=_order)]


def _order(error: ValidationError) -> tuple[str, str]:
    return (str(error.json_path), str(error.message))


def _describe(error: ValidationError) -> str:
    text = f"{error.json_path}: {_message(error)}"
    if error.context:
        reasons: dict[str, None] = {}
        for sub in sorted(error.context, key=_order):
            where = "" if sub.json_path == error.json_path else f"{sub.json_path}: "
            reasons[f"{where}{_message(sub)}"] = None
        text += " [" + " | ".join(reasons) + "]"
    return text


def _message(error: ValidationError) -> str:
    """jsonschema quotes the whole offending value; a 2,000-character query would bury the reason."""
    message, quoted = str(error.message), repr(error.instance)
    if len(quoted) <= MAX_QUOTED:
        return message
    return message.replace(quoted, quoted[: MAX_QUOTED - 3] + "...")
