"""The structured log lines the service writes to stdout."""

from __future__ import annotations

import json
import logging

from molops.serving.observe import JsonLogFormatter


def _line(**extra) -> dict:
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, "Started %s", ("server",), None)
    record.__dict__.update(extra)
    return json.loads(JsonLogFormatter().format(record))


def test_a_log_line_is_one_json_object_with_the_extra_fields():
    line = _line(event="started", request_id="r1", empty=None)
    assert (line["message"], line["level"], line["logger"]) == ("Started server", "info", "uvicorn.error")
    assert line["event"] == "started" and line["request_id"] == "r1" and "empty" not in line
    assert line["time"].endswith("Z")


def test_uvicorns_coloured_copy_of_the_message_is_left_out():
    assert "color_message" not in _line(color_message="\x1b[32mStarted\x1b[0m server")
