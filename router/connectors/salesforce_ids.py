"""Salesforce's ids and hosts, as every part of the connector checks them."""

from __future__ import annotations

import re

SALESFORCE_HOSTS = (".salesforce.com", ".force.com", ".salesforce.mil", ".sfcrmproducts.cn")
"""Where a token's `instance_url` may point besides `login_url`'s own host: an answer from
anywhere else is refused, so a token endpoint cannot send the connector to another host."""


SALESFORCE_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
