"""The README documents every setting."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from trustroom.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def _variables(model: type[BaseModel], prefix: str) -> list[str]:
    names: list[str] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += _variables(annotation, f"{prefix}{name.upper()}__")
        else:
            names.append(f"{prefix}{name.upper()}")
    return names


def test_every_setting_is_documented() -> None:
    text = README.read_text()
    missing = [name for name in _variables(Settings, "TRUSTROOM_") if f"`{name}`" not in text]
    assert not missing
