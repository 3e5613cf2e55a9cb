"""The versioned behavioural codebook (YAML shipped in the package) and what derives from it.

One file defines the codes; the rule annotator implements them, the LLM annotator gets them in
its prompt and as the JSON schema of its answer, and stored annotations carry the version so a
changed codebook is re-annotated instead of mixed with old answers.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from simgap.errors import SimgapError
from simgap.models import CodeValue


class CodebookError(SimgapError):
    """A codebook file that does not parse or contradicts itself (one line)."""


class CodeKind(StrEnum):
    CATEGORY = "category"  # exactly one of `values`
    FLAG = "flag"  # true / false


class Code(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    kind: CodeKind
    description: str
    values: dict[str, str] = Field(default_factory=dict)  # value -> meaning (category only)

    @model_validator(mode="after")
    def _check(self) -> Code:
        if self.kind == CodeKind.CATEGORY and len(self.values) < 2:
            raise ValueError(f"code {self.name!r}: a category needs at least two values")
        if self.kind == CodeKind.FLAG and self.values:
            raise ValueError(f"code {self.name!r}: a flag has no values")
        return self

    def validate_value(self, value: Any) -> CodeValue:
        """The value if it is allowed for this code, else ValueError naming code and value."""
        if self.kind == CodeKind.FLAG:
            if isinstance(value, bool):
                return value
            raise ValueError(f"{self.name}: expected true/false, got {value!r}")
        if isinstance(value, str) and value in self.values:
            return value
        raise ValueError(f"{self.name}: {value!r} is not one of {sorted(self.values)}")


class CodeGroup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    usi_dimension: str
    codes: list[Code]


class Codebook(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    version: str
    source: str
    groups: list[CodeGroup]
    style_features: dict[str, str]

    @model_validator(mode="after")
    def _unique(self) -> Codebook:
        names = [c.name for g in self.groups for c in g.codes]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"code names must be unique, repeated: {', '.join(dup)}")
        return self

    @property
    def codes(self) -> list[Code]:
        return [c for g in self.groups for c in g.codes]

    def code(self, name: str) -> Code:
        for c in self.codes:
            if c.name == name:
                return c
        raise KeyError(f"codebook {self.name}@{self.version} has no code {name!r}")

    def group_of(self, code: str) -> CodeGroup:
        for g in self.groups:
            if any(c.name == code for c in g.codes):
                return g
        raise KeyError(code)

    def json_schema(self) -> dict[str, Any]:
        """JSON schema of one turn's answer: every code required, nothing else allowed."""
        props: dict[str, Any] = {}
        for c in self.codes:
            if c.kind == CodeKind.FLAG:
                props[c.name] = {"type": "boolean", "description": c.description}
            else:
                props[c.name] = {
                    "type": "string",
                    "enum": list(c.values),
                    "description": c.description,
                }
        return {
            "type": "object",
            "properties": props,
            "required": [c.name for c in self.codes],
            "additionalProperties": False,
        }

    def validate_codes(self, answer: Any) -> dict[str, CodeValue]:
        """Check a whole answer against the codebook; ValueError names the first problem."""
        if not isinstance(answer, dict):
            raise ValueError(f"expected a JSON object, got {type(answer).__name__}")
        known = {c.name for c in self.codes}
        extra = sorted(set(answer) - known)
        if extra:
            raise ValueError(f"unknown code(s): {', '.join(extra)}")
        out: dict[str, CodeValue] = {}
        for c in self.codes:
            if c.name not in answer:
                raise ValueError(f"missing code {c.name!r}")
            out[c.name] = c.validate_value(answer[c.name])
        return out

    def render(self) -> str:
        """The codebook as plain text for a prompt: every code, every value, every meaning."""
        lines = [f"Codebook {self.name} v{self.version}"]
        for g in self.groups:
            lines.append(f"\n## {g.name}")
            for c in g.codes:
                if c.kind == CodeKind.FLAG:
                    lines.append(f"- {c.name} (true/false): {c.description}")
                else:
                    lines.append(f"- {c.name} (one of {', '.join(c.values)}): {c.description}")
                    lines.extend(f"    - {v}: {meaning}" for v, meaning in c.values.items())
        return "\n".join(lines)


CODEBOOK_FILE = "codebook_v1.yaml"


@cache
def load_codebook(filename: str = CODEBOOK_FILE) -> Codebook:
    """The codebook shipped in `simgap/annotate/data/` (the current one by default)."""
    path = resources.files("simgap.annotate").joinpath(f"data/{filename}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Codebook.model_validate(data)
    except FileNotFoundError:
        raise CodebookError(f"codebook {filename}: not found in simgap/annotate/data") from None
    except yaml.YAMLError as e:
        raise CodebookError(f"codebook {filename}: not valid YAML ({e})") from None
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise CodebookError(f"codebook {filename}: {loc}: {first['msg']}") from None
