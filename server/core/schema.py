"""OpenAPI generation (drf-spectacular): every operation documents the errors it can answer with.

Views document their success responses and their domain errors (`409: OpenApiResponse(description=...)`);
`ApiAutoSchema` adds what every view of a kind can answer, all in the one error shape of
`server.core.exceptions` (`{"message": str, "extra": {...}}`, the `Error` component):

- 400 for an operation that reads a body or query parameters, or writes (services refuse bad states);
- 401 for every authenticated view (a missing, unknown or expired token; also on open views, where a
  wrong `Authorization` header is refused before the view runs);
- 403 where a permission or a role is needed, or a session write can fail its CSRF check;
- 404 for an operation with path parameters (missing objects, other projects' objects) or a paginated list
  (a page past the end);
- 413 and 415 for an operation with a request body (too large; a media type it does not parse);
- 429 for a throttled view.

An error response a view documents without a body gets the `Error` schema too.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny

ERROR_COMPONENT = "Error"
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every error the API answers with. `extra` holds machine-readable details: `fields` "
    "(a 400's field errors), current versions, ids of conflicting objects, `retry_after`...",
    "properties": {
        "message": {"type": "string", "description": "What went wrong, for people."},
        "extra": {"type": "object", "additionalProperties": {}},
    },
    "required": ["message", "extra"],
}
ERROR_DESCRIPTIONS = {
    "400": "The request was refused: invalid input, or not allowed in the objects' current state.",
    "401": "Not signed in, or the token is unknown or expired.",
    "403": "Signed in without the permission or project role this needs (or a session write without its CSRF token).",
    "404": "Not found: a missing object, one of another project (outsiders get 404, not 403), or a page past "
    "the end of a list.",
    "413": "The request body is too large.",
    "415": "The request body's media type is not accepted here.",
    "429": "Too many requests: retry after the `Retry-After` header's seconds.",
}
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class ApiAutoSchema(AutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):  # type: ignore[no-untyped-def]
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation.setdefault("responses", {})
        for code in self._error_codes(operation):
            responses.setdefault(code, {"description": ERROR_DESCRIPTIONS[code]})
        error_ref = self._error_component().ref
        for code, response in responses.items():
            if str(code) >= "400" and "content" not in response:
                response["content"] = {"application/json": {"schema": error_ref}}
        operation["responses"] = dict(sorted(responses.items(), key=lambda item: str(item[0])))
        return operation

    def _error_component(self) -> ResolvedComponent:
        component = ResolvedComponent(
            name=ERROR_COMPONENT, type=ResolvedComponent.SCHEMA, schema=ERROR_SCHEMA, object=ERROR_COMPONENT
        )
        self.registry.register_on_missing(component)
        return component

    def _error_codes(self, operation: dict[str, Any]) -> list[str]:
        locations = {parameter.get("in") for parameter in operation.get("parameters", [])}
        has_body = "requestBody" in operation
        writes = self.method not in SAFE_METHODS
        authenticators = self.view.get_authenticators()
        open_view = all(isinstance(permission, AllowAny) for permission in self.view.get_permissions())
        codes = []
        if has_body or writes or "query" in locations:
            codes.append("400")
        if authenticators:
            codes.append("401")
        if not open_view or (writes and any(isinstance(a, SessionAuthentication) for a in authenticators)):
            codes.append("403")
        if "path" in locations or (self.method == "GET" and self._get_paginator() is not None):
            codes.append("404")
        if has_body:
            codes += ["413", "415"]
        if self.view.get_throttles():
            codes.append("429")
        return codes
