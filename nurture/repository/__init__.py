"""All of nurture's SQL, one module per noun. Reads take a `ReadConn` or a `Tx`; writes take
a `Tx`. Nothing here commits."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from services.db import ReadConn, Tx

Conn = ReadConn | Tx


def connection_of(conn: Conn) -> AsyncConnection:
    return conn.conn if isinstance(conn, Tx) else conn
