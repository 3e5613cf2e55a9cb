"""A user's own agent or user simulator, loaded without forking simgap.

A plugin is named either by import path, `package.module:ClassName` (the package importable
from the environment simgap runs in), or by an entry point of the installed distributions:

    # the plugin package's pyproject.toml
    [project.entry-points."simgap.agents"]
    my-agent = "mypkg.agents:MyAgent"
    [project.entry-points."simgap.users"]
    my-sim = "mypkg.sims:MySim"

so `simgap run --agent my-agent -u my-sim` finds them. Every failure to load one (a module that
does not import, a missing name, an object of the wrong type) is a `PluginError`: one line that
names the plugin, how it was referred to, and what went wrong. See docs/plugins.md.
"""

from __future__ import annotations

import importlib
import re
import traceback
from functools import cache
from importlib import metadata
from pathlib import Path

from simgap.errors import ConfigError

AGENT_GROUP = "simgap.agents"
USER_GROUP = "simgap.users"

_IMPORT_PATH = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")


class PluginError(ConfigError):
    """A plugin that cannot be loaded or is not what it claims to be."""


def is_import_path(ref: str) -> bool:
    """`pkg.mod:Name` (not `local:/path.gguf`, not a litellm id such as `openai/gpt-4.1`)."""
    return _IMPORT_PATH.match(ref) is not None


@cache
def _entry_points(group: str) -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=group)}


def entry_point(group: str, name: str) -> metadata.EntryPoint | None:
    """The installed entry point `name` of `group`, if any."""
    return _entry_points(group).get(name)


def entry_point_names(group: str) -> list[str]:
    return sorted(_entry_points(group))


def is_plugin_ref(group: str, ref: str) -> bool:
    return is_import_path(ref) or entry_point(group, ref) is not None


def _import_error(where: str, e: BaseException) -> str:
    frames = traceback.extract_tb(e.__traceback__)
    at = ""
    if frames and not isinstance(e, ModuleNotFoundError):
        last = frames[-1]
        at = f" ({Path(last.filename).name}:{last.lineno})"
    text = str(e).splitlines()[0] if str(e) else ""
    return f"{where} raised {type(e).__name__}: {text}{at}"


def load_object(ref: str, *, what: str, group: str) -> tuple[object, str]:
    """The object `ref` names (entry point name or import path), and how it was found."""
    ep = entry_point(group, ref)
    if ep is not None:
        dist = ep.dist.name if ep.dist is not None else "?"
        how = f"entry point {ref!r} of {dist} ({ep.value})"
        target = ep.value
    elif is_import_path(ref):
        how = f"{ref!r}"
        target = ref
    else:
        raise PluginError(
            f"{what} {ref!r}: not a known name, an installed `{group}` entry point, or an "
            "import path such as mypkg.module:ClassName"
        )
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name.strip())
    except ModuleNotFoundError as e:
        raise PluginError(
            f"plugin {what} {how}: cannot import module {module_name!r} ({e})"
        ) from None
    except Exception as e:  # the plugin's own module failed while importing
        raise PluginError(
            f"plugin {what} {how}: " + _import_error(f"importing {module_name}", e)
        ) from None
    obj: object = module
    for part in attr.strip().split("."):
        if not hasattr(obj, part):
            raise PluginError(f"plugin {what} {how}: {module_name} has no attribute {part!r}")
        obj = getattr(obj, part)
    return obj, how


def load_class(ref: str, *, what: str, group: str, base: type) -> type:
    """The class `ref` names, checked to be a subclass of `base` (and not abstract)."""
    obj, how = load_object(ref, what=what, group=group)
    expected = f"{base.__module__.rsplit('.', 1)[0]}.{base.__name__}"
    if not isinstance(obj, type) or not issubclass(obj, base):
        kind = type(obj).__name__ if not isinstance(obj, type) else f"class {obj.__name__}"
        raise PluginError(f"plugin {what} {how} is a {kind}, not a subclass of {expected}")
    abstract = sorted(getattr(obj, "__abstractmethods__", ()) or ())
    if abstract:
        raise PluginError(
            f"plugin {what} {how}: {obj.__name__} does not implement {', '.join(abstract)}"
        )
    return obj


def clear_cache() -> None:
    """Forget the entry points seen so far (after installing a package at run time)."""
    _entry_points.cache_clear()


__all__ = [
    "AGENT_GROUP",
    "USER_GROUP",
    "PluginError",
    "clear_cache",
    "entry_point",
    "entry_point_names",
    "is_import_path",
    "is_plugin_ref",
    "load_class",
    "load_object",
]
