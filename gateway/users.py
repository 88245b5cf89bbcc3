"""Console and API users, their passwords, PINs and API tokens."""
from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from gateway.core import audit, clock, fields
from gateway.core.errors import Conflict, NotFound, ValidationError
from gateway.adapters.database import db
from gateway.core.models import ROLES, ApiToken, Site, User
from gateway.core.phones import PhoneError, normalise

TOKEN_PREFIX = "gw_"
# A 4-digit PIN has 10,000 values: any hash of one falls to a search in minutes, however slow.
# What protects it is the lock after three wrong tries, so the hash is kept cheap enough
# not to hold a USSD answer (scrypt, werkzeug's default, takes ~130 ms a check here; this ~8 ms).
# Clients' and users' PINs alike; passwords keep werkzeug's default.
PIN_HASH_METHOD = "pbkdf2:sha256:20000"


def hash_pin(pin: str) -> str:
    """The hash a USSD PIN is kept as (clients' and users')."""
    return generate_password_hash(pin, method=PIN_HASH_METHOD)


def pin_hash_is_current(pin_hash: str) -> bool:
    """False for a PIN hashed another way (before PIN_HASH_METHOD): rehashed at its next correct entry."""
    return pin_hash.startswith(PIN_HASH_METHOD + "$")


def create_user(email: str, role: str, password: str | None, actor: str, *, name: str | None = None,
                phone: str | None = None, pin: str | None = None, country: str = "ZA",
                site_ids: list[int] | None = None) -> User:
    """Create a user (not committed). Raises ValidationError / Conflict naming the field."""
    errors: dict[str, str] = {}
    email = (email or "").strip().lower()
    if "@" not in email or len(email) > 254 or email.startswith("@") or email.endswith("@"):
        errors["email"] = "must be an email address"
    if role not in ROLES:
        errors["role"] = f"must be one of {', '.join(ROLES)}"
    if password is not None and len(password) < 10:
        errors["password"] = "must be at least 10 characters"
    e164 = None
    if phone:
        try:
            e164 = normalise(phone, country)
        except PhoneError as exc:
            errors["phone"] = str(exc)
    if pin is not None and not (pin.isdigit() and len(pin) == 4):
        errors["pin"] = "must be 4 digits"
    sites = []
    for site_id in site_ids or []:
        site = db.session.get(Site, site_id)
        if site is None:
            errors["site"] = f"no site with id {site_id}"
        else:
            sites.append(site)
    if errors:
        raise ValidationError("some fields are not valid", errors)
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict("a user with this email exists", {"email": "already exists"})
    if e164 and db.session.scalar(select(User.id).where(User.phone == e164)) is not None:
        raise Conflict("a user with this phone exists", {"phone": "already used by another user"})
    user = User(email=email, role=role, name=fields.text(name, 120), phone=e164, active=True, sites=sites,
                password_hash=generate_password_hash(password) if password else None,
                ussd_pin_hash=hash_pin(pin) if pin else None)
    db.session.add(user)
    db.session.flush()
    audit.record(actor, "user.created", "user", user.id, {"role": role, "sites": [s.id for s in sites]})
    return user


def check_password(user: User, password: str) -> bool:
    return bool(user.password_hash) and user.active and check_password_hash(user.password_hash, password)


def get_by_email(email: str) -> User:
    user = db.session.scalar(select(User).where(User.email == (email or "").strip().lower()))
    if user is None:
        raise NotFound(f"no user with email {email!r}")
    return user


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user: User, actor: str) -> str:
    """Create an API token for ``user`` and return it; only its hash is kept."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user=user, token_hash=_hash_token(token), prefix=token[:10])
    db.session.add(row)
    db.session.flush()
    audit.record(actor, "token.created", "api_token", row.id, {"user_id": user.id, "prefix": row.prefix})
    return token


def revoke_tokens(user: User, actor: str) -> int:
    """Revoke every live token of ``user``; return how many."""
    now = clock.utcnow()
    count = 0
    for token in user.tokens:
        if token.revoked_at is None:
            token.revoked_at = now
            audit.record(actor, "token.revoked", "api_token", token.id, {"user_id": user.id})
            count += 1
    return count


def authenticate_token(token: str) -> tuple[User, ApiToken] | None:
    """The user and token row for a live bearer token, or None."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash_token(token)))
    if row is None or row.revoked_at is not None or not row.user.active:
        return None
    return row.user, row
