"""Django's SuspiciousOperation family answered in the API's JSON error shape, not Django's HTML 400."""

from __future__ import annotations

import pytest
from django.core.exceptions import SuspiciousFileOperation, SuspiciousOperation
from django.core.files.storage import FileSystemStorage
from rest_framework.test import APIRequestFactory

from server.core.exceptions import api_exception_handler


def handled(exc: Exception):
    request = APIRequestFactory().get("/api/x/")
    return api_exception_handler(exc, {"request": request, "view": None})


def test_a_path_traversal_from_storage_is_a_400_that_does_not_echo_the_path(tmp_path):
    with pytest.raises(SuspiciousFileOperation) as caught:
        FileSystemStorage(location=str(tmp_path)).path("../../etc/passwd")
    response = handled(caught.value)
    assert response.status_code == 400
    assert response.data == {
        "message": "A file name or path in the request is not allowed.",
        "extra": {"reason": "SuspiciousFileOperation"},
    }
    assert "passwd" not in str(response.data)


def test_other_suspicious_operations_are_a_400_in_the_error_shape():
    response = handled(SuspiciousOperation("internal detail"))
    assert response.status_code == 400
    assert response.data == {
        "message": "The request was refused as unsafe.",
        "extra": {"reason": "SuspiciousOperation"},
    }
