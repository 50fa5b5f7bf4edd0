"""JSON responses."""
import json

from werkzeug.wrappers import Response


def json_response(status: int, body=None, headers=None) -> Response:
    """`body` None: no content (204)."""
    if body is None:
        return Response(status=status, headers=headers)
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")
