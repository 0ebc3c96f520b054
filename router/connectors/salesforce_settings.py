"""A Salesforce connector's settings (the org, the Lead fields it writes, the call outcomes
it reads, the account sync) and credentials (the connected app's key, the outbound
webhook's secret)."""

from __future__ import annotations

from typing import Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from router.connectors.base import (
    AccountSyncSettings,
)
from router.connectors.salesforce_ids import SALESFORCE_ID
from router.records import ActivityOutcome
from services import standard_webhooks

_API_NAME = r"^[A-Za-z][A-Za-z0-9_]{0,79}$"


_ORIGIN = r"^https?://[^/?#\s]+$"


class SalesforceSettings(AccountSyncSettings):
    model_config = ConfigDict(extra="forbid")

    login_url: str = Field(
        pattern=_ORIGIN,
        description="Where the token is asked: your My Domain "
        "(https://yourco.my.salesforce.com; required by the client credentials flow), or "
        "https://login.salesforce.com / https://test.salesforce.com for the JWT bearer flow",
    )
    auth: Literal["client_credentials", "jwt_bearer"] = Field(
        "client_credentials",
        description="client_credentials (credentials.client_secret) or jwt_bearer "
        "(credentials.private_key and settings.username)",
    )
    username: str | None = Field(
        None,
        min_length=3,
        max_length=255,
        description="jwt_bearer: the integration user's username (the assertion's sub)",
    )
    audience: str | None = Field(
        None,
        pattern=_ORIGIN,
        description="jwt_bearer: the assertion's aud (default login_url; "
        "https://login.salesforce.com or https://test.salesforce.com with a My Domain "
        "login_url)",
    )
    api_version: str = Field("v61.0", pattern=r"^v[1-9][0-9]{1,2}\.0$")
    lead_id_field: str | None = Field(
        None,
        pattern=_API_NAME,
        description="An external id field on Lead holding the Leadfarm lead id (e.g. "
        "Leadfarm_Lead_Id__c): Leads are upserted by it, and activities matched by it; "
        "without it Leads are upserted by email",
    )
    why_field: str = Field(
        "Leadfarm_Why__c",
        pattern=_API_NAME,
        description="The Lead field that holds the routing explanation (a custom text "
        "area, or Description)",
    )
    why_max_length: int = Field(
        255, ge=40, le=131072, description="The why_field's length in Salesforce"
    )
    country_field: Literal["Country", "CountryCode"] | None = Field(
        "Country",
        description="Where the lead's ISO country code goes: CountryCode when State and "
        "Country/Territory Picklists are on, None to leave it out",
    )
    lead_source: str | None = Field(
        None, min_length=1, max_length=255, description="A LeadSource picklist value to set"
    )
    on_return: Literal["keep_owner", "set_owner"] = Field(
        "keep_owner",
        description="On lead.returned: keep the Lead's owner, or set it to return_owner_id "
        "(a marketing queue or user)",
    )
    return_owner_id: str | None = Field(None, pattern=SALESFORCE_ID.pattern)
    call_outcomes: dict[str, ActivityOutcome] = Field(
        default_factory=dict,
        description="A Task's CallDisposition (any case) -> Leadfarm outcome, for your "
        "own call results (common ones are known)",
    )
    max_clock_skew_s: int = Field(300, ge=30, le=900)

    @model_validator(mode="after")
    def _consistent(self) -> SalesforceSettings:
        if self.on_return == "set_owner" and self.return_owner_id is None:
            raise ValueError("return_owner_id is required when on_return is set_owner")
        if self.auth == "jwt_bearer" and self.username is None:
            raise ValueError("username is required when auth is jwt_bearer")
        return self


class SalesforceCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: str = Field(
        min_length=8, max_length=255, description="The app's consumer key (client id)"
    )
    client_secret: str | None = Field(
        None,
        min_length=8,
        max_length=255,
        description="client_credentials: the app's consumer secret",
    )
    private_key: str | None = Field(
        None,
        min_length=100,
        max_length=20000,
        description="jwt_bearer: the PEM RSA private key of the certificate uploaded to the app",
    )
    webhook_secret: str | None = Field(
        None,
        description="A Standard Webhooks secret (whsec_...) the Apex that posts activities "
        "signs with (activities in)",
    )

    @field_validator("private_key")
    @classmethod
    def _rsa_key(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                key = load_pem_private_key(value.encode(), password=None)
            except (ValueError, TypeError, UnsupportedAlgorithm):
                raise ValueError("not a PEM private key without a passphrase") from None
            if not isinstance(key, RSAPrivateKey):
                raise ValueError("must be an RSA key (Salesforce signs with RS256)")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _whsec(cls, value: str | None) -> str | None:
        return None if value is None else standard_webhooks.check_secret(value)
