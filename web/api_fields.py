"""Field types the API's schemas share: ids and counts bounded like the databases' INTEGER columns,
and numbers that must be JSON numbers. Integers are strict everywhere: 1.5 or "3" answer 422 naming
the field (marshmallow would otherwise truncate or convert them)."""

from __future__ import annotations

from typing import Any

from apiflask.fields import Float, Integer
from apiflask.validators import Range

from marketplace.models.base import INT_MAX

# an id of 2**70 is a 422 naming its field, not an overflow answered by the database driver
ID_RANGE = Range(min=1, max=INT_MAX)


def Id(**kwargs: Any) -> Integer:  # noqa: N802 - reads as a field type, like Integer()
    """A strict integer id, 1 to the largest INTEGER the databases store."""
    return Integer(strict=True, validate=ID_RANGE, **kwargs)


class JsonNumber(Float):
    """A number written as a JSON number: "0.1" (a string) is refused with a 422 naming the field,
    as strict integers are (marshmallow's Float would convert it)."""

    def _validated(self, value: Any) -> float:
        if isinstance(value, str):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)
