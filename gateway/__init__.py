"""The USSD and SMS reminder gateway: ``create_app`` is its one entry point."""
from __future__ import annotations

from pathlib import Path

from flask import Flask

from gateway.core.config import Settings


def create_app(config: Settings | dict | None = None) -> Flask:
    """Build the app: read settings, bind extensions, register blueprints and commands.

    ``config`` may be a ready ``Settings`` (tests), or a dict of overrides on
    top of the environment's settings.
    """
    from gateway.core import logmask

    logmask.install()  # before anything logs: no phone number in any log line or traceback
    app = Flask(__name__)  # instance/ beside the gateway package
    app.json.sort_keys = False
    if isinstance(config, Settings):
        settings = config
    else:
        settings = Settings.from_env(Path(app.instance_path))
        if config:
            settings = settings.replace(**config)
    app.config.update(
        SETTINGS=settings,
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        # hide_parameters: a failed statement's error (and its traceback in the log) names no client's values.
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True, "hide_parameters": True},
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
    )

    from gateway import indicators, translations, ussd
    from gateway.adapters import database, redis_store
    from gateway.interfaces import api, callbacks, cli, console, health, home

    database.init_app(app, migrations=str(Path(__file__).parent.parent / "migrations"))
    redis_store.init_app(app)
    ussd.init_app(app)  # every menu, action and effect handler checked now: a broken one stops the start
    indicators.definitions()  # the indicators file is checked now too: a mistake stops the start, naming its line
    translations.init_app(app)
    cli.init_app(app)
    health.init_app(app)
    api.init_app(app)
    callbacks.init_app(app)
    home.init_app(app)
    console.init_app(app)
    return app
