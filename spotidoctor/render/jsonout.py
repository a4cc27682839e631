"""The ``--json`` document (schema 1). Pinned by tests: add keys, never rename or remove."""
from __future__ import annotations

import json
from collections.abc import Sequence

from spotidoctor import __version__
from spotidoctor.model import CheckResult, Message
from spotidoctor.render import overall_status
from spotidoctor.types import JSONValue

SCHEMA = 1


def message_to_json(message: Message) -> dict[str, JSONValue]:
    return {"text": message.text, "kind": message.kind.value, "advice": list(message.advice),
            "url": message.url}


def result_to_json(result: CheckResult) -> dict[str, JSONValue]:
    return {
        "id": result.check_id,
        "title": result.title,
        "category": result.category,
        "severity": result.severity.name.lower(),
        "status": result.status.value,
        "summary": result.summary,
        "messages": [message_to_json(m) for m in result.messages],
        "facts": dict(result.facts),
        "fixes": [fix.to_json() for fix in result.fixes],
        "duration_s": round(result.duration_s, 4),
    }


def document(command: str, results: Sequence[CheckResult], exit_code: int,
             extra: dict[str, JSONValue] | None = None) -> dict[str, JSONValue]:
    doc: dict[str, JSONValue] = {
        "schema": SCHEMA,
        "spotidoctor_version": __version__,
        "command": command,
        "status": overall_status(results),
        "exit_code": exit_code,
        "results": [result_to_json(r) for r in results],
    }
    if extra:
        doc.update(extra)
    return doc


def dumps(doc: dict[str, JSONValue]) -> str:
    return json.dumps(doc, indent=2, sort_keys=False, default=str)
