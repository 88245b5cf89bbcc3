"""``/api/v1/indicators``: a month's programme indicators, for one site or all the caller may see."""
from __future__ import annotations

from flask import g, jsonify, request

from gateway.core import fields
from gateway import indicators
from gateway.core.errors import NotFound, ValidationError
from gateway.adapters.database import db
from gateway.core.models import Site
from gateway.interfaces.api import bp


@bp.get("/indicators")
def get_indicators():
    """``?period=YYYY-MM[&site_id=N]``: ``{"period", "site_id", "indicators": {code: n}}``.

    Without ``site_id``: the sum over every site the caller may see (an admin's
    includes clients without a site). A site that is not the caller's is a 404.
    """
    period = indicators.parse_period(request.args.get("period"))
    try:  # not type=int: "?site_id=1O" would read as no site at all
        site_id = fields.integer(request.args.get("site_id"), 1, fields.MAX_ID)
    except fields.FieldError as exc:
        raise ValidationError("bad site_id", {"site_id": str(exc)}) from None
    mine = None if g.user.role == "admin" else [s.id for s in g.user.sites]
    if site_id is not None:
        if db.session.get(Site, site_id) is None or (mine is not None and site_id not in mine):
            raise NotFound("no such site", {"site_id": "no such site"})
        values = indicators.for_period(period, site_id=site_id)
    else:
        values = indicators.for_period(period, site_ids=mine)
    return jsonify({"period": period.label, "site_id": site_id, "indicators": values})
