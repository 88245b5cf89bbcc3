"""The Africa's Talking SDK's services, pointed at the right host.

This module, ``backends.py`` and ``account.py`` are the only code that knows
AT's SDK. The SDK has no option for its host (docs/africastalking.md), so
subclasses override ``_init_service``, the one place the SDK sets ``_baseUrl``.
Two services are used: SMS (sending) and Application (the account's balance,
for ``flask at check``).
"""
from __future__ import annotations

from africastalking.Application import ApplicationService
from africastalking.Service import DEFAULT_TIMEOUT_S, AfricasTalkingException, Service
from africastalking.SMS import SMSService

__all__ = ["ATApplicationService", "ATSMSService", "ATHTTPError", "AfricasTalkingException", "DEFAULT_TIMEOUT_S"]


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


class _ATHost:
    """Mixed into an SDK service: its base URL is ``api_url`` when given, and non-2xx replies keep their status.

    ``api_url`` is ``AT_API_URL`` (no trailing ``/version1``): requests then go
    to ``{api_url}/version1/...``. Without it the SDK's own choice stands: the
    sandbox host for username ``sandbox``, else the production host.
    """

    _PATH = ""  # the service's path under /version1, for its URL and repr

    def __init__(self, username: str, api_key: str, api_url: str | None = None) -> None:
        # Set before the SDK's __init__, which ends by calling _init_service.
        self._api_url = api_url.rstrip("/") if api_url else None
        super().__init__(username, api_key)

    def _init_service(self) -> None:
        super()._init_service()  # the SDK's host for the username, plus "/version1"
        if self._api_url:
            self._baseUrl = self._contentUrl = self._api_url + "/version1"

    def __repr__(self) -> str:  # never show the key
        return f"{type(self).__name__}(username={self._username!r}, url={self._make_url(self._PATH)!r})"

    # The SDK's private request functions (Service.__make_post_request and
    # __make_get_request, hence the mangled names) are the only place where the
    # HTTP response is visible before the SDK drops its status code. These
    # overrides call them unchanged and only raise ATHTTPError (an
    # AfricasTalkingException, as the SDK would raise) for a non-2xx reply.
    # tests/messages check that a 401 and a 500 arrive with their status, so an SDK
    # release that renames them is noticed.
    def _Service__make_post_request(self, url, headers, data, params, callback=None,
                                    timeout=DEFAULT_TIMEOUT_S):
        return _with_status(Service._Service__make_post_request(url, headers, data, params, callback, timeout))

    def _Service__make_get_request(self, url, headers, data, params, callback=None,
                                   timeout=DEFAULT_TIMEOUT_S):
        return _with_status(Service._Service__make_get_request(url, headers, data, params, callback, timeout))


def _with_status(res):
    if res is not None and not 200 <= res.status_code < 300:
        raise ATHTTPError(res.status_code, res.text)
    return res


class ATSMSService(_ATHost, SMSService):
    """``africastalking.SMSService`` whose base URL is ``api_url`` when given (see ``_ATHost``)."""

    _PATH = "/messaging"

    @property
    def messaging_url(self) -> str:
        """The URL ``send`` posts to."""
        return self._make_url(self._PATH)


class ATApplicationService(_ATHost, ApplicationService):
    """``africastalking.ApplicationService`` (the account's data: its balance), pointed as ``_ATHost`` says."""

    _PATH = "/user"

    @property
    def user_url(self) -> str:
        """The URL ``fetch_application_data`` asks (with ``?username=``)."""
        return self._make_url(self._PATH)
