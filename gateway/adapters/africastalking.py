"""The Africa's Talking SDK's SMS service, pointed at the right host.

This module and ``backends.py`` are the only code that knows AT's SDK. The
SDK has no option for its host (docs/africastalking.md), so a subclass
overrides ``_init_service``, the one place the SDK sets ``_baseUrl``.
"""
from __future__ import annotations

from africastalking.Service import DEFAULT_TIMEOUT_S, AfricasTalkingException, Service
from africastalking.SMS import SMSService

__all__ = ["ATSMSService", "ATHTTPError", "AfricasTalkingException", "DEFAULT_TIMEOUT_S"]


class ATHTTPError(AfricasTalkingException):
    """A non-2xx reply from AT: its HTTP status and body.

    The SDK raises a bare ``AfricasTalkingException(body)`` for every non-2xx
    reply; this subclass keeps the status too, so that a 401 (bad key: stop and
    tell someone) is told apart from a 503 (try again later).
    """

    def __init__(self, status: int, body: str) -> None:
        super().__init__(body)
        self.status = status
        self.body = body


class ATSMSService(SMSService):
    """``africastalking.SMSService`` whose base URL is ``api_url`` when given.

    ``api_url`` is ``AT_API_URL`` (no trailing ``/version1``): SMS then go to
    ``{api_url}/version1/messaging``. Without it the SDK's own choice stands:
    the sandbox host for username ``sandbox``, else the production host.
    """

    def __init__(self, username: str, api_key: str, api_url: str | None = None) -> None:
        # Set before the SDK's __init__, which ends by calling _init_service.
        self._api_url = api_url.rstrip("/") if api_url else None
        super().__init__(username, api_key)

    def _init_service(self) -> None:
        super()._init_service()  # the SDK's host for the username, plus "/version1"
        if self._api_url:
            self._baseUrl = self._contentUrl = self._api_url + "/version1"

    @property
    def messaging_url(self) -> str:
        """The URL ``send`` posts to."""
        return self._make_url("/messaging")

    def __repr__(self) -> str:  # never show the key
        return f"ATSMSService(username={self._username!r}, url={self.messaging_url!r})"

    # The SDK's private request function (Service.__make_post_request, hence the
    # mangled name) is the only place where the HTTP response is visible before
    # the SDK drops its status code. This override calls it unchanged and only
    # raises ATHTTPError (an AfricasTalkingException, as the SDK would raise) for
    # a non-2xx reply. tests/sms check that a 401 and a 500 arrive with their
    # status, so an SDK release that renames the function is noticed.
    def _Service__make_post_request(self, url, headers, data, params, callback=None,
                                    timeout=DEFAULT_TIMEOUT_S):
        res = Service._Service__make_post_request(url, headers, data, params, callback, timeout)
        if res is not None and not 200 <= res.status_code < 300:
            raise ATHTTPError(res.status_code, res.text)
        return res
