"""Field types the API's schemas share: ids and counts bounded like the databases' INTEGER columns,
numbers that must be JSON numbers and booleans that must be JSON booleans. They read what the
OpenAPI document says, as JSON Schema means it: an ``integer`` is any whole number, also written
``8.0`` (converted to 8); 1.5, "3" or true answer 422 naming the field (marshmallow would otherwise
truncate or convert them); a ``boolean`` is true or false, never 0, 1 or "yes"."""

from __future__ import annotations

from typing import Any

from apiflask.fields import Boolean, Float, Integer, String
from apiflask.validators import Length, Range, Regexp

from marketplace.models.base import INT_MAX

# the longest search text: what the search pages keep of ``q`` (web/enterprise/firms.py); a longer one is a
# 422 naming ``q`` and this limit, documented as the parameter's maxLength
MAX_SEARCH = 200
SEARCH_LENGTH = Length(max=MAX_SEARCH, error="give at most {max} characters")

# a text that must say something: at least one character that is not white space (and, as every
# text the API reads, no NUL: web/request_input.py)
NOT_BLANK_PATTERN = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"
NOT_BLANK = Regexp(NOT_BLANK_PATTERN, error="give a text that is not blank")

# an id of 2**70 is a 422 naming its field, not an overflow answered by the database driver
ID_RANGE = Range(min=1, max=INT_MAX)


class Whole(Integer):
    """A JSON Schema ``integer``: a whole number, 8 or 8.0 alike (read as 8); a fraction, a string
    or a boolean is refused."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _validated(self, value: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return super()._validated(value)


def Id(**kwargs: Any) -> Whole:  # noqa: N802 - reads as a field type, like Integer()
    """An integer id, 1 to the largest INTEGER the databases store."""
    return Whole(validate=ID_RANGE, **kwargs)


class JsonBoolean(Boolean):
    """A JSON boolean: true or false. 0, 1, "true" or "yes" are refused with a 422 naming the
    field (marshmallow's Boolean would read them as booleans)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class JsonNumber(Float):
    """A number written as a JSON number: "0.1" (a string) is refused with a 422 naming the field,
    as strict integers are (marshmallow's Float would convert it)."""

    def _validated(self, value: Any) -> float:
        if isinstance(value, (str, bool)):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


def rules_of(model: Any, name: str) -> list[Any]:
    """The bounds the service's pydantic ``model`` puts on its field ``name`` (ge/le, min and max
    length), as marshmallow validators: the API's document states the limits the service enforces,
    and a value beyond them is a 422 naming the field before the service is asked."""
    import annotated_types as at

    low = high = shortest = longest = None
    for rule in model.model_fields[name].metadata:
        if isinstance(rule, at.Ge):
            low = rule.ge
        elif isinstance(rule, at.Le):
            high = rule.le
        elif isinstance(rule, at.MinLen):
            shortest = rule.min_length
        elif isinstance(rule, at.MaxLen):
            longest = rule.max_length
    validators: list[Any] = []
    if low is not None or high is not None:
        validators.append(Range(min=low, max=high))
    if shortest is not None or longest is not None:
        validators.append(Length(min=shortest, max=longest))
    text = model.model_fields[name].annotation is str
    if text and shortest and model.model_config.get("str_strip_whitespace"):
        # counted after white space at either end is cut: so many characters that are not white space
        validators.append(non_blank(shortest))
    return validators


def non_blank(count: int = 1) -> Regexp:
    """At least ``count`` characters that are not white space (and no NUL, as every text)."""
    some = r"[^\u0000]*"
    pattern = "^" + some + (r"[^\s\u0000]" + some) * count + "$"
    return Regexp(pattern, error=f"give at least {count} characters besides white space")


def Region(**kwargs: Any) -> String:  # noqa: N802 - reads as a field type, like String()
    """A region: a province's short name, or empty for anywhere (the document lists them; the
    service also reads a city or a full name such as 苏州 or 江苏省 as its province, and refuses
    anything else with a 400 naming the field)."""
    from marketplace.regions import PROVINCES

    description = "a province's short name (a city or full name is read as its province); empty: anywhere"
    return String(metadata={"enum": ["", *PROVINCES], "description": description}, **kwargs)


# What a schema requires across its fields, in JSON Schema words marshmallow has no field for
# (anyOf ...): component name -> keywords, merged into the OpenAPI document (web/__init__.py)
SCHEMA_RULES: dict[str, dict[str, Any]] = {}
