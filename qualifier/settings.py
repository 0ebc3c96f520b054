"""qualifier's settings (LEADFARM_QUALIFIER_*)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.settings import ServiceSettings


class QualifierSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LEADFARM_QUALIFIER_", extra="ignore")

    definitions_file: Path | None = None
    """A definitions YAML file to start with instead of the shipped
    qualifier/definitions/default.yaml. Validated at start; a new `version` in it becomes
    the active definitions (see docs/qualification.md)."""
    min_outcomes: int = Field(20, ge=1)
    """Closed opportunities needed before the learned win likelihood joins the score."""
    learned_weight: float = Field(0.3, ge=0.0, le=1.0)
    """Share of the score taken by the learned win likelihood once it is active:
    score = (1 - w) * rule score + w * 100 * P(win | attributes). 0 turns learning off."""
    laplace_alpha: float = Field(1.0, gt=0.0)
    """Laplace (additive) smoothing of the win frequencies."""
    reevaluate_batch_size: int = Field(200, ge=1, le=5000)
    """Leads decided again per transaction when re-evaluating after a definitions change."""
