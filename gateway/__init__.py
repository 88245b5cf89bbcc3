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
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
    )

    from gateway.interfaces import cli, console, health, home as web
    from gateway.adapters import database as extensions, redis_store
    from gateway.interfaces.api import bp as api_bp
    from gateway.interfaces.callbacks import bp as callbacks_bp

    extensions.db.init_app(app)
    extensions.migrate.init_app(app, extensions.db, directory=str(Path(__file__).parent.parent / "migrations"))
    redis_store.init_app(app)
    cli.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(callbacks_bp)
    app.register_blueprint(web.bp)
    console.init_app(app)
    from gateway import indicators
    indicators.definitions()  # the indicators file is checked at start: a mistake stops it, naming its line
    return app
