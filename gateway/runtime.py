"""What one running gateway holds: settings, the database engine and the services built on it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.config import Settings
from gateway.persistence.db import create_engine, create_session_factory
from gateway.services.credentials import SecretBox, write_private_file
from gateway.services.merchants import MerchantService
from gateway.services.orders import OrderQueries


class ConfigurationError(RuntimeError):
    """The settings cannot work; the message says which one to fix."""


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    merchants: MerchantService
    orders: OrderQueries

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        engine = create_engine(settings.effective_database_url)
        sessions = create_session_factory(engine)
        box = SecretBox(master_secret(settings))
        return cls(settings, engine, sessions, MerchantService(sessions, box), OrderQueries(sessions))

    async def aclose(self) -> None:
        await self.engine.dispose()


def master_secret(settings: Settings) -> str:
    """GATEWAY_SECRET_KEY, or in dev mode one generated once and kept in var/secret-key."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    if not settings.dev_mode:
        raise ConfigurationError("set GATEWAY_SECRET_KEY (it encrypts terminal keys at rest)")
    path = settings.var_dir / "secret-key"
    if not path.exists():
        write_private_file(path, secrets.token_urlsafe(32))
    return path.read_text().strip()
