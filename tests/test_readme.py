"""The README documents every setting."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from trustroom.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def variables(model: type[BaseModel] = Settings, prefix: str = "TRUSTROOM_") -> list[str]:
    """Every setting's environment variable, in the order the settings declare them."""
    names: list[str] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += variables(annotation, f"{prefix}{name.upper()}__")
        else:
            names.append(f"{prefix}{name.upper()}")
    return names


def test_every_setting_is_documented() -> None:
    text = README.read_text()
    missing = [name for name in variables() if f"`{name}`" not in text]
    assert not missing
