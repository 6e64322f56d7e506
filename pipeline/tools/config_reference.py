"""The configuration reference: every key of the configuration file, generated from its models.

``aiops config reference [--out FILE]`` writes it as Markdown; ``docker/config/REFERENCE.md`` is
its output, and a test fails when the two differ. Each key has its dotted path, type (with its
bounds), effective default and description. ``[]`` stands for a list item, ``<name>`` for a key
you choose, and ``[type=slack]`` for the keys of an item whose ``type`` is ``slack``.

>>> keys = {k.path: k for k in reference_keys()}
>>> keys["kafka.partitions"].type, keys["kafka.partitions"].default
('int ≥ 1', '4')
>>> keys["alerting.remediation.per_target_limit.max_actions"].default
'1'
>>> keys["alerting.receivers[].sinks[type=webhook].secret"].secret
True
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Iterator, Literal, Union

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from aiops.alerting.plugin_config import ConfigByType
from aiops.pipeline.config import Settings

#: Where the generated reference is kept in the source tree.
REFERENCE_PATH = Path(__file__).resolve().parents[2] / "docker" / "config" / "REFERENCE.md"
REFERENCE_COMMAND = "aiops config reference --out docker/config/REFERENCE.md"
#: The sections ``aiops.pipeline.runner.apply_settings`` applies to a running worker.
RELOADED_SECTIONS = ("logging", "detection", "logs", "alerting")

_WORDS = ("required", "(keys below)")  # defaults that are not values
_BOUNDS = (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤"), ("min_length", "min length"),
           ("max_length", "max length"), ("pattern", "matching"))


@dataclass(frozen=True)
class KeyDoc:
    """One key of the configuration file."""

    path: str
    type: str
    default: str
    description: str
    secret: bool


@dataclass
class Table:
    """The keys of one mapping of the file (a section, a list item, one variant of a plugin union)."""

    path: str
    doc: str
    keys: list[KeyDoc] = field(default_factory=list)


def reference_keys() -> list[KeyDoc]:
    """Every key, in the order of the reference."""
    return [key for table in reference_tables() for key in table.keys]


def reference_tables() -> list[Table]:
    """Every mapping of the file, depth first from the top-level sections."""
    walker, defaults = _Walker(), Settings()
    for name, info in Settings.model_fields.items():
        walker.walk(_model_of(info.annotation), name, getattr(defaults, name))  # type: ignore[arg-type]
    return walker.tables


class _Walker:
    """Collects one table per mapping; a model met again as a list or map item refers to its first table."""

    def __init__(self) -> None:
        self.tables: list[Table] = []
        self.item_paths: dict[type[BaseModel], str] = {}  # list/map item models already documented

    def walk(self, model: type[BaseModel], path: str, instance: BaseModel | None, doc: str | None = None) -> None:
        fields = model.model_fields
        if not doc and "type" in fields and fields["type"].description:  # a plugin variant: what its type selects
            doc = fields["type"].description[:1].upper() + fields["type"].description[1:] + "."
        table = Table(path, _first_paragraph(model.__dict__.get("__doc__")) or doc or "")
        self.tables.append(table)
        nested: list[tuple[str, Any, Any, str]] = []
        for name, info in sorted(fields.items(), key=lambda item: item[0] != "type"):
            key = f"{path}.{info.alias or name}"
            value = getattr(instance, name) if instance is not None else _class_default(info)
            table.keys.append(KeyDoc(key, _type_of(info), _default_text(value), _description(info),
                                     _is_secret(info.annotation)))
            nested.append((key, info.annotation, value, name))
        for key, annotation, value, name in nested:
            self._descend(model, name, key, annotation, value)

    def _descend(self, owner: type[BaseModel], name: str, key: str, annotation: Any, value: Any) -> None:
        params = _PLUGIN_PARAMS.get((owner.__name__, name))
        if params is not None:
            for kind, (params_model, doc) in params().items():
                self._item(params_model, f"{key.rsplit('.', 1)[0]}[type={kind}].{name}".replace("[][", "["), doc)
            return
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if origin is list:
            self._items(args[0], f"{key}[]")
        elif origin is dict:
            self._items(args[1], f"{key}.<name>")
        else:
            model = _model_of(annotation)
            if model is None:
                return
            instance = value if isinstance(value, BaseModel) else None
            if instance is None or instance == _class_instance(model):
                self._item(model, key)  # the class's own defaults: documented once
            else:
                self.walk(model, key, instance)

    def _items(self, annotation: Any, path: str) -> None:
        variants = _union_variants(annotation)
        if variants:
            for kind, model in variants:
                self._item(model, f"{path[:-2] if path.endswith('[]') else path}[type={kind}]")
            return
        model = _model_of(annotation)
        if model is not None:
            self._item(model, path)

    def _item(self, model: type[BaseModel], path: str, doc: str | None = None) -> None:
        first = self.item_paths.get(model)
        if first is not None:
            self.tables.append(Table(path, f"The same keys as `{first}`."))
            return
        self.item_paths[model] = path
        self.walk(model, path, None, doc)


def _detector_params() -> dict[str, tuple[type[BaseModel], str | None]]:
    """The parameter model of every built-in detector bank, with the bank's summary (plugins left out)."""
    from aiops.detectors.config import PARAMS_MODELS
    from aiops.detectors.registry import BANKS

    # the project's own entry points (the LSTM autoencoder in models/) are documented; other packages' are not
    plugins = {ep.name for ep in entry_points(group="aiops.detector") if not ep.value.startswith("aiops.")}
    found = {}
    for name in BANKS.names():
        if name in PARAMS_MODELS.names():
            found[name] = (PARAMS_MODELS.load(name), None)
        elif name not in plugins:
            bank = BANKS.load(name)
            if getattr(bank, "Params", None) is not None:
                found[name] = (bank.Params, _first_paragraph(bank.__doc__))
    return found


# Free-form ``dict`` fields whose keys a plugin's own model checks: (owner model, field) -> {type: model}.
_PLUGIN_PARAMS = {("DetectorSpec", "params"): _detector_params}


def _union_variants(annotation: Any) -> list[tuple[str, type[BaseModel]]]:
    """``[(type value, model)]`` of an entry whose ``type`` picks its model (built-ins only), else empty."""
    if typing.get_origin(annotation) is typing.Annotated:
        by_type = [meta for meta in annotation.__metadata__ if isinstance(meta, ConfigByType)]
        if by_type:
            return by_type[0].variants()
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) not in (Union, types.UnionType):
        return []
    variants = []
    for member in typing.get_args(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel) and "type" in member.model_fields:
            variants.append((str(member.model_fields["type"].default), member))
    return variants


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model a (possibly optional) annotation names, else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _model_of(members[0])
    return None


def _class_instance(model: type[BaseModel]) -> BaseModel | None:
    try:
        return model()
    except ValueError:  # required keys: no instance of its own
        return None


def _class_default(info: FieldInfo) -> Any:
    if info.is_required():
        return PydanticUndefined
    return info.get_default(call_default_factory=True)


def _type_of(info: FieldInfo) -> str:
    text = _type_name(info.annotation)
    bounds = []
    for meta in info.metadata:
        for attr, word in _BOUNDS:
            bound = getattr(meta, attr, None)
            if bound is not None:
                bounds.append(f"{word} `{bound}`" if attr == "pattern" else f"{word} {bound}")
    return f"{text} {', '.join(bounds)}" if bounds else text


def _type_name(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return "null"
    if annotation is SecretStr:
        return "secret"
    if annotation is Any:
        return "any"
    if origin is typing.Annotated:
        if _union_variants(annotation):
            return "mapping (by type)"
        return _type_name(args[0])
    if origin is Literal:
        return " | ".join(json.dumps(a) for a in args)
    if origin in (Union, types.UnionType):
        if _union_variants(annotation):
            return "mapping (by type)"
        return " | ".join(_type_name(a) for a in args)
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"map of {_type_name(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    return getattr(annotation, "__name__", str(annotation))


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in typing.get_args(annotation)


def _default_text(value: Any) -> str:
    if value is PydanticUndefined:
        return "required"
    if isinstance(value, BaseModel):
        return "(keys below)"
    return json.dumps(_plain(value), ensure_ascii=False)


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value() and "**********"
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_defaults=True, by_alias=True)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _description(info: FieldInfo) -> str:
    if info.description:
        return info.description
    model = _model_of(info.annotation)
    return _first_paragraph(model.__doc__) if model is not None else ""


def _first_paragraph(doc: str | None) -> str:
    return " ".join((doc or "").strip().split("\n\n")[0].split()).replace("``", "`")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


_INTRO = """\
# Configuration reference

Generated from the configuration models by `{command}`;
a test fails when this file is out of date. Every section rejects unknown keys, and
`aiops config validate FILE` names each bad key with the reason.

**Paths.** `a.b` is key `b` of section `a`; `[]` is an item of a list, `<name>` a key you choose
(a map), and `[type=slack]` the keys of an item whose `type` is `slack`. Defaults are written as
JSON, which is YAML too (a regular expression's backslashes are doubled in it); `null` means unset.
Keys ending in `_s` are seconds.

**From the environment.** No environment variable overrides a key by itself. Instead any value in
the file may be written `${{NAME}}`, read from the environment variable `NAME`, or `${{file:/path}}`,
read from a file (a missing variable or unreadable file is a configuration error that names it).
The whole value must be the reference; the text read is then validated as the key's type, so
`partitions: ${{KAFKA_PARTITIONS}}` works too. Keys typed `secret` are meant to come from the
environment or a file this way; they are redacted in `aiops config validate --show` and in logs:

{secrets}

These variables are read directly, besides the file:

| variable | meaning |
|---|---|
| `{token_env}` / `{token_file_env}` | a bearer token (or the file holding it) with every API scope, \
user `operator`; the CLI sends it |
| `{state_env}` / `{state_file_env}` | the key (or the file holding it) that signs per-series state \
records with HMAC-SHA256 |
| `AIOPS_HEALTH_URL` | the URL the Docker image's HEALTHCHECK calls (when `worker.web_port` is not 6066) |

**Reload.** When the file changes, the sections {live} are applied in place (alerting state is
kept; `alerting.api`, the tokens and `public_metrics`, is read when the HTTP server starts).
Changes to {restart} are logged (`config.restart_needed`) and take effect at the next restart;
{other} read when the worker starts.
"""


def render_reference() -> str:
    """The reference as Markdown."""
    from aiops.alerting.auth import TOKEN_ENV, TOKEN_FILE_ENV
    from aiops.detectors.core.state_codec import STATE_KEY_ENV, STATE_KEY_FILE_ENV
    from aiops.pipeline.runner import RESTART_SECTIONS

    tables = reference_tables()
    keys = [k for t in tables for k in t.keys]
    secrets = "\n".join(f"- `{k.path}`" for k in keys if k.secret)
    sections = list(Settings.model_fields)
    other = [s for s in sections if s not in RESTART_SECTIONS and s not in RELOADED_SECTIONS]
    other_text = f"{_names(other)} {'is' if len(other) == 1 else 'are'}" if other else "nothing else is"
    parts = [_INTRO.format(command=REFERENCE_COMMAND, secrets=secrets, live=_names(RELOADED_SECTIONS),
                           restart=_names(RESTART_SECTIONS), other=other_text, token_env=TOKEN_ENV,
                           token_file_env=TOKEN_FILE_ENV, state_env=STATE_KEY_ENV, state_file_env=STATE_KEY_FILE_ENV)]
    for table in tables:
        level = "##" if "." not in table.path else "###"
        parts.append(f"{level} `{table.path}`\n")
        if table.doc:
            parts.append(f"{_cell(table.doc)}\n")
        if table.keys:
            rows = ["| key | type | default | description |", "|---|---|---|---|"]
            rows += [f"| `{k.path}` | {_cell(k.type)} | {_cell(_code(k.default))} | {_cell(k.description)} |"
                     for k in table.keys]
            parts.append("\n".join(rows) + "\n")
    return "\n".join(parts)


def _code(default: str) -> str:
    return default if default in _WORDS else f"`{default}`"


def _names(sections: typing.Iterable[str]) -> str:
    return ", ".join(f"`{s}`" for s in sections)


def write_reference(out: str | Path | None) -> str:
    """Write the reference to ``out`` (None: return it only); returns the text."""
    text = render_reference()
    if out is not None:
        Path(out).write_text(text)
    return text


def iter_undocumented() -> Iterator[str]:
    """Paths of keys without a description."""
    return (k.path for k in reference_keys() if not k.description.strip())
