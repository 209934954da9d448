"""Errors about a data file name the file and the position, never its contents.

Parsers quote what they could not read: pyarrow's CSV reader ends its error with the offending line
(``CSV parse error: Row #24: Expected 1 columns, got 4: postgres:x:101:…``), its casts quote the value
(``Failed to parse string: '60590.84 USD' as a scalar of type double``) and pandas' date parser the
text it met. A reference path pointing at a system file by mistake then echoed one of its lines into
stderr, the JSON log, the Prefect database and the window report. `describe_read_error` keeps what
says where and why (row, column counts, the type asked for) and drops every quoted value.
"""

from __future__ import annotations

import re

from watchkeeper.quoting import cap_text

# "CSV parse error: Row #24: Expected 1 columns, got 4: <the line>": everything after the counts.
_CSV_LINE = re.compile(r"((?:CSV )?[Pp]arse error:.*?Expected \d+ columns?, got \d+)(?::.*)?", re.S)
# "Failed to parse string: '<value>' as a scalar of type double"
_CAST_VALUE = re.compile(r"Failed to parse string: '.*?' as a scalar of type", re.S)
# pandas: "Unknown datetime string format, unable to parse: <value>, at position 3", "time data
# "<value>" doesn't match format …": the value goes, the position stays.
_PANDAS_PARSE = re.compile(r"(unable to parse|time data)\b.*?(, at position \d+|$)", re.S)
# Anything else in quotes (a value, a line, a path the caller names itself).
_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")


def describe_read_error(exc: BaseException | str) -> str:
    """The parser's message without any content of the file: positions and types only."""
    text = str(exc)
    text = _CSV_LINE.sub(r"\1 (the line is not quoted)", text)
    text = _CAST_VALUE.sub("Failed to parse a value as a scalar of type", text)
    text = _PANDAS_PARSE.sub(lambda m: f"{m.group(1)} a value{m.group(2)}", text)
    text = _QUOTED.sub("'…'", text)
    # One line: a message that spans lines may carry a quoted block.
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return cap_text(first)
