"""Slack Block Kit JSON (the body of an incoming-webhook POST) as the text Slack shows.

python docs/screenshots/slack_text.py PAYLOAD.json
"""

import html
import json
import re
import sys
from pathlib import Path
from typing import Any

EMOJI = {
    ":red_circle:": "🔴",
    ":large_orange_circle:": "🟠",
    ":white_check_mark:": "✅",
    ":information_source:": "ℹ️",
}


def mrkdwn(text: str) -> str:
    for code, char in EMOJI.items():
        text = text.replace(code, char)
    text = re.sub(r"<([^|>]+)\|([^>]+)>", r"[\2](\1)", text)  # <url|label> -> [label](url)
    return html.unescape(text)


def render(payload: dict[str, Any]) -> str:
    out = []
    for block in payload["blocks"]:
        kind = block["type"]
        if kind == "header":
            out += [mrkdwn(block["text"]["text"]), "=" * len(block["text"]["text"])]
        elif kind == "section" and "fields" in block:
            for field in block["fields"]:
                name, _, value = mrkdwn(field["text"]).partition("\n")
                out.append(f"{name.strip('*')}: {value}")
        elif kind == "section":
            out.append(mrkdwn(block["text"]["text"]))
        elif kind == "context":
            out.append(" · ".join(mrkdwn(e["text"]) for e in block["elements"]))
        elif kind == "divider":
            out.append("-" * 40)
        out.append("")
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(render(json.loads(Path(sys.argv[1]).read_text())), end="")
