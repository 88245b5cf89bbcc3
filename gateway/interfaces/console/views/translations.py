"""Admins only: the Translations page, where native speakers on the programme's staff write and review texts.

Coordinators get 404, as if the page did not exist. The checks run in
``gateway.translations``; the page's script asks ``.../check`` as a text is
typed, and saving runs the same checks again (docs/translations.md).
"""
from __future__ import annotations

from types import SimpleNamespace

from flask import Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from gateway import translations
from gateway.core.countries import LANGUAGES
from gateway.adapters.database import db
from gateway.i18n import offered_languages
from gateway.ussd import screen_limits
from gateway.interfaces.console import bp
from gateway.interfaces.console.auth import actor
from gateway.interfaces.console.views import actor_names

MAX_TEXT = 2000  # far above any screen or SMS; anything longer is not a text of ours


def _admin_language(lang: str | None = None) -> str | None:
    """404 for anyone but an admin, and for a language that is not translated here."""
    if not current_user.is_admin:
        abort(404)
    if lang is not None and lang not in translations.editable():
        abort(404)
    return lang


@bp.get("/translations")
def translations_list():
    _admin_language()
    return render_template("console/translations.html", statuses=translations.statuses())


def _language_page(lang: str, errors: dict[str, list[dict]] | None = None, typed: dict[str, str] | None = None,
                   import_problems: list | None = None, status: int = 200):
    entries = translations.entries(lang)
    state = next(s for s in translations.statuses() if s.code == lang)
    names = actor_names([SimpleNamespace(actor=e.updated_by) for e in entries if e.updated_by])
    return render_template("console/translation_language.html", lang=lang, name=LANGUAGES[lang], entries=entries,
                           status=state, errors=errors or {}, typed=typed or {}, import_problems=import_problems,
                           limit=min(screen_limits()), names=names, saved=request.args.get("saved")), status


@bp.get("/translations/<lang>")
def translation_language(lang: str):
    _admin_language(lang)
    return _language_page(lang)


def _form_text() -> tuple[str, str, str]:
    """(key, text, state) of the text whose button was pressed: ``save=<state>:<key>``, its text in ``text:<key>``."""
    state, _, key = request.form.get("save", "").partition(":")
    return key, request.form.get(f"text:{key}", "")[:MAX_TEXT], state


@bp.post("/translations/<lang>")
def translation_save(lang: str):
    """Save one text as a draft, or as reviewed; refused (with the failing checks named) if any check fails."""
    _admin_language(lang)
    key, text, state = _form_text()
    try:
        translations.save(lang, key, text, state, actor(), screen_limits())
    except translations.TranslationError as exc:
        db.session.rollback()
        problems = [{"name": translations.CHECKS[p.check], "message": p.message} for p in exc.problems]
        flash(f"{key}: not saved. " + "; ".join(f"{p['name']}: {p['message']}" for p in problems), "error")
        return _language_page(lang, {key: problems}, {key: text}, status=422)
    db.session.commit()
    translations.changed()
    offered = lang in offered_languages()
    flash(f"{key}: saved as {state}." + (f" {LANGUAGES[lang]} is offered to clients." if offered else ""), "ok")
    # Back to the text just saved (the page is long), which says so itself: the message above is out of sight.
    return redirect(url_for("console.translation_language", lang=lang, saved=key) + f"#t-{key.replace('.', '-')}")


@bp.post("/translations/<lang>/check")
def translation_check(lang: str):
    """The checks for one text as it is typed: JSON ``{"ok", "problems": [...], "gsm7", "sms_parts", ...}``."""
    _admin_language(lang)
    data = request.get_json(silent=True) or {}
    key, text = str(data.get("key", "")), str(data.get("text", ""))[:MAX_TEXT]
    return jsonify(translations.check_text(lang, key, text, screen_limits()).as_json())


@bp.get("/translations/<lang>.po")
def translation_export(lang: str):
    _admin_language(lang)
    return Response(translations.export_po(lang), mimetype="text/x-gettext-translation",
                    headers={"Content-Disposition": f'attachment; filename="{lang}.po"'})


@bp.post("/translations/<lang>/import")
def translation_import(lang: str):
    """A PO file back, whole or not at all; a refusal lists each text (msgid) and the check it fails."""
    _admin_language(lang)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("Choose a PO file to import.", "error")
        return _language_page(lang, status=400)
    try:
        result = translations.import_po(lang, upload.read(), actor(), screen_limits())
    except translations.TranslationError as exc:
        db.session.rollback()
        flash(f"{upload.filename}: nothing imported; {len(exc.problems)} problem(s) below.", "error")
        return _language_page(lang, import_problems=exc.problems, status=422)
    db.session.commit()
    translations.changed()
    flash(f"{upload.filename}: {result.changed} texts changed ({result.drafts} as drafts), "
          f"{result.unchanged} unchanged.", "ok")
    return redirect(url_for("console.translation_language", lang=lang))
