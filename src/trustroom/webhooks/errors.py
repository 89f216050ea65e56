"""Errors of the webhooks domain."""

from __future__ import annotations

from ..errors import N_, BadRequest, NotFound


class EndpointNotFound(NotFound):
    sub_code = "WebhookEndpointNotFound"
    message = N_("There is no webhook endpoint with this id.")


class UrlInvalid(BadRequest):
    sub_code = "UrlInvalid"
    message = N_("The URL must be absolute, with a host and without user name or password.")


class UrlSchemeNotAllowed(BadRequest):
    sub_code = "UrlSchemeNotAllowed"
    message = N_("Webhook URLs must use https.")


class UrlAddressNotAllowed(BadRequest):
    sub_code = "UrlAddressNotAllowed"
    message = N_("The URL points to a private, loopback or link-local address that is not allowed.")


class UnknownEventType(BadRequest):
    sub_code = "UnknownEventType"
    message = N_("There is no event type named %(event_type)s.")


class HeaderNotAllowed(BadRequest):
    sub_code = "HeaderNotAllowed"
    message = N_("The header %(header)s cannot be set on webhook deliveries.")


class MessageNotFound(NotFound):
    sub_code = "WebhookMessageNotFound"
    message = N_("There is no webhook message with this id.")
