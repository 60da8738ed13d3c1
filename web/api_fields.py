"""Field types the API's schemas share: ids and counts bounded like the databases' INTEGER columns,
numbers that must be JSON numbers and booleans that must be JSON booleans. They read what the
OpenAPI document says, as JSON Schema means it: an ``integer`` is any whole number, also written
``8.0`` (converted to 8); 1.5, "3" or true answer 422 naming the field (marshmallow would otherwise
truncate or convert them); a ``boolean`` is true or false, never 0, 1 or "yes"."""

from __future__ import annotations

from typing import Any

from apiflask.fields import Boolean, Float, Integer
from apiflask.validators import Length, Range

from marketplace.models.base import INT_MAX

# the longest search text: what the search pages keep of ``q`` (web/firms.py); a longer one is a
# 422 naming ``q`` and this limit, documented as the parameter's maxLength
MAX_SEARCH = 200
SEARCH_LENGTH = Length(max=MAX_SEARCH, error="give at most {max} characters")

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
