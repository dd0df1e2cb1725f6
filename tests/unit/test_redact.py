"""Passwords in URLs: found, and masked before a URL is printed or stored."""

from __future__ import annotations

import pytest

from molops.redact import has_password, redact


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://bob:s3cr%40t@db:5432/ml?sslmode=require", "postgresql://bob:***@db:5432/ml?sslmode=require"),
        ("postgresql://:pw@db/ml", "postgresql://:***@db/ml"),
        ("postgresql://bob:@db/ml", "postgresql://bob:***@db/ml"),
        ("http://admin:hunter2@mlflow:5000", "http://admin:***@mlflow:5000"),
        ("postgresql://bob@db/ml?password=x&sslmode=verify-full", "postgresql://bob@db/ml?password=***&sslmode=verify-full"),
        ("postgresql://bob@db/ml?sslkey=k.pem&sslpassword=x", "postgresql://bob@db/ml?sslkey=k.pem&sslpassword=***"),
    ],
)  # fmt: skip
def test_a_password_is_masked(url, shown):
    assert has_password(url)
    assert redact(url) == shown


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://bob@db:5432/ml?sslmode=verify-full&sslrootcert=/etc/ca.pem",
        "sqlite:////tmp/ws/mlflow.db",
        "http://mlflow:5000",
        "postgresql://bob@db/ml?options=-csearch_path%3Doptuna",
    ],
)
def test_a_url_without_one_is_unchanged(url):
    assert not has_password(url)
    assert redact(url) == url
