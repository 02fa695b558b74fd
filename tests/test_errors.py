"""The error classes: a URL's password and tokens never appear in a message."""

from __future__ import annotations

from helpers import SECRET_URL

from blurutils.errors import ConfigError, FrameError, SourceError


def test_secrets_are_redacted_in_every_error_message():
    from blurutils.errors import redact

    for error in (SourceError, FrameError, ConfigError):
        assert "hunter2" not in str(error(f"cannot download {SECRET_URL}: 403"))
    assert redact(SECRET_URL) == ("https://***@videos.example.com/clip.mp4?id=7"
                                  "&access_token=***")
    for text in ("https://example.com/a.mp4?v=1&X-Amz-Signature=abc&X-Amz-Credential=k",
                 "http://h/x?sig=abc", "http://h/x?api_key=abc&apikey=abc&password=abc"):
        assert "abc" not in redact(text) and "***" in redact(text)
    assert redact(PAPER := "https://www.youtube.com/watch?v=MaWnvvrngyQ") == PAPER
