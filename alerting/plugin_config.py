"""Config entries whose ``type`` picks a registry entry, validated by the model that entry carries.

A sink or action class carries its ``config_model``; the registry finds the
class (built-in path or entry point). So the settings accept a plugin's entries
without a closed union to edit, and reject a bad one with the key path.

>>> from pydantic import BaseModel, ConfigDict, TypeAdapter
>>> class ChimeConfig(BaseModel):
...     model_config = ConfigDict(extra="forbid")
>>> class BellConfig(ChimeConfig):
...     type: str = "bell"
...     loud: bool = False
>>> class Bell:
...     config_model = BellConfig
>>> chimes = Registry("chime", {})
>>> chimes.register("bell", Bell)
>>> entries = TypeAdapter(list[ConfigByType(chimes, ChimeConfig).annotation()])
>>> entries.validate_python([{"type": "bell", "loud": True}])
[BellConfig(type='bell', loud=True)]
>>> entries.validate_python([{"type": "gong"}, {"type": "bell", "lud": 1}])
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 2 validation errors for list[...]
0.type
  unknown chime 'gong'; known: bell [type=plugin_type, input_value='gong', input_type=str]
1.lud
  Extra inputs are not permitted [type=extra_forbidden, input_value=1, input_type=int]
...
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError, core_schema

from aiops.detectors.core.errors import ConfigError
from aiops.detectors.core.registry import Registry


class ConfigByType:
    """The pydantic annotation that validates a mapping by ``registry.load(mapping["type"]).config_model``."""

    def __init__(self, registry: Registry, base: type[BaseModel], *, documented: tuple[str, ...] = ()) -> None:
        self.registry = registry
        self.base = base
        self.documented = documented

    def model_for(self, kind: str) -> type[BaseModel]:
        """The config model of entry ``kind``; ``ConfigError`` when unknown, broken or without a proper model."""
        try:
            entry = self.registry.load(kind)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"{self.registry.kind} {kind!r} cannot be loaded: {exc}") from None
        model = getattr(entry, "config_model", None)
        if not self._fits(model):
            raise ConfigError(f"{self.registry.kind} {kind!r} needs a config_model: a subclass of "
                              f"{self.base.__name__} with a 'type' field")
        return model

    def variants(self) -> list[tuple[str, type[BaseModel]]]:
        """``[(type, model)]`` of the documented (built-in) entries, for the configuration reference."""
        return [(kind, self.model_for(kind)) for kind in self.documented]

    def validate(self, value: Any) -> Any:
        if isinstance(value, BaseModel) and self._fits(type(value)):
            return value
        if not isinstance(value, dict):
            raise PydanticCustomError("plugin_type", "expected a mapping with a 'type' key")
        kind = value.get("type")
        if not isinstance(kind, str):
            self._fail(f"required; known: {', '.join(self.registry.names())}", kind)
        try:
            model = self.model_for(kind)
        except ConfigError as exc:
            self._fail(str(exc), kind)
        return model.model_validate(value)

    def _fits(self, model: Any) -> bool:
        """A model with a ``type`` and every key of ``base`` (a subclass of it, by its keys)."""
        return (isinstance(model, type) and issubclass(model, BaseModel)
                and {"type", *self.base.model_fields} <= set(model.model_fields))

    def _fail(self, message: str, kind: Any) -> None:
        error = PydanticCustomError("plugin_type", "{message}", {"message": message})
        raise ValidationError.from_exception_data(self.base.__name__, [{"type": error, "loc": ("type",),
                                                                      "input": kind}])

    def annotation(self) -> Any:
        """The type of one entry: ``base``, validated by ``type`` and serialised as the entry's own model."""
        return Annotated[self.base, self]  # type: ignore[name-defined]

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        as_own_model = core_schema.wrap_serializer_function_ser_schema(lambda value, serialize: serialize(value),
                                                                       schema=core_schema.any_schema())
        return core_schema.no_info_plain_validator_function(self.validate, json_schema_input_schema=handler(source),
                                                            serialization=as_own_model)
