"""The dependencies of audit's routes: the unit of work and the domain objects they call,
as `Annotated` types (`unit: Unit`, `forecast: TheForecast`, ...)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from audit.forecast import Forecast
from audit.reports.service import Reports
from audit.satisfaction_audits import SatisfactionAudits
from audit.settings import AuditSettings
from services.db import UnitOfWork


@dataclass(frozen=True)
class Services:
    """What audit's routes call: the unit of work and the domain objects the composition root
    made. `api.build_router` binds them to each request (`request.state.audit`), so the routes
    are module functions that name what they use through the dependencies below."""

    unit: UnitOfWork
    settings: AuditSettings
    forecast: Forecast
    satisfaction_audits: SatisfactionAudits
    reports: Reports


def _services(request: Request) -> Services:
    services: Services = request.state.audit
    return services


async def _unit(request: Request) -> UnitOfWork:
    return _services(request).unit


async def _settings(request: Request) -> AuditSettings:
    return _services(request).settings


async def _forecast(request: Request) -> Forecast:
    return _services(request).forecast


async def _satisfaction_audits(request: Request) -> SatisfactionAudits:
    return _services(request).satisfaction_audits


async def _reports(request: Request) -> Reports:
    return _services(request).reports


Unit = Annotated[UnitOfWork, Depends(_unit)]
TheSettings = Annotated[AuditSettings, Depends(_settings)]
TheForecast = Annotated[Forecast, Depends(_forecast)]
Audits = Annotated[SatisfactionAudits, Depends(_satisfaction_audits)]
TheReports = Annotated[Reports, Depends(_reports)]
