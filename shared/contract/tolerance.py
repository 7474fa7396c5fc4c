"""Strict for what the platform sends, tolerant for what another release of Herald wrote.

Every contract model forbids unknown fields, so a command from the platform
with a typo is rejected field by field. A consumer of an event (or a reader
of a stored document) validates with the `TOLERANT` context instead: fields
it does not know, written by a newer release during a rolling upgrade, are
left out at every level before validation, never a reason for the DLQ.
"""

from __future__ import annotations

import functools
from typing import Any, Final, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    ModelWrapValidatorHandler,
    ValidationInfo,
    model_validator,
)

#: The validation context of tolerant readers: `Model.model_validate_json(raw, context=TOLERANT)`.
TOLERANT: Final = {"tolerant": True}


class Contract(BaseModel):
    """A model of the contract: unknown fields forbidden, unless read with `TOLERANT`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="wrap")
    @classmethod
    def _leave_out_unknown(
        cls, data: Any, handler: ModelWrapValidatorHandler[Self], info: ValidationInfo
    ) -> Self:
        if isinstance(data, dict) and info.context and info.context.get("tolerant"):
            known = _known_keys(cls)
            data = {key: value for key, value in data.items() if key in known}
        return handler(data)


@functools.cache
def _known_keys(model: type[BaseModel]) -> frozenset[str]:
    """Field names and their aliases: what a document of this model may hold."""
    keys = set(model.model_fields)
    keys |= {f.alias for f in model.model_fields.values() if f.alias}
    keys |= {
        f.validation_alias
        for f in model.model_fields.values()
        if isinstance(f.validation_alias, str)
    }
    return frozenset(keys)
