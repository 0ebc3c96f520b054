"""The dependencies of audit's routes: the unit of work and the domain objects they call,
as `Annotated` types (`unit: Unit`, `forecast: TheForecast`, ...)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from audit.forecast import Forecast
from audit.reports.service import Reports
from audit.satisfaction_audits import SatisfactionAudits
from audit.settings import AuditSettings
from services.binding import Binding
from services.db import UnitOfWork


@dataclass(frozen=True)
class Services:
    """What audit's routes call: the unit of work and the domain objects the composition root
    made. `api.build_router` binds them to each request (`bound.to`), so the routes are module
    functions that name what they use through the dependencies below."""

    unit: UnitOfWork
    settings: AuditSettings
    forecast: Forecast
    satisfaction_audits: SatisfactionAudits
    reports: Reports


bound = Binding[Services]("audit")
TheServices = Annotated[Services, Depends(bound)]


async def _unit(services: TheServices) -> UnitOfWork:
    return services.unit


async def _settings(services: TheServices) -> AuditSettings:
    return services.settings


async def _forecast(services: TheServices) -> Forecast:
    return services.forecast


async def _satisfaction_audits(services: TheServices) -> SatisfactionAudits:
    return services.satisfaction_audits


async def _reports(services: TheServices) -> Reports:
    return services.reports


Unit = Annotated[UnitOfWork, Depends(_unit)]
TheSettings = Annotated[AuditSettings, Depends(_settings)]
TheForecast = Annotated[Forecast, Depends(_forecast)]
Audits = Annotated[SatisfactionAudits, Depends(_satisfaction_audits)]
TheReports = Annotated[Reports, Depends(_reports)]
