"""`GET /api/openapi.json`: an OpenAPI 3.1 description generated from the code.

Paths come from the application's route table (regex groups become `{id}`,
`{action}` … parameters), methods from what each handler class implements,
request bodies from the pydantic model a handler declares in its `bodies`
attribute (`bodies = {"post": schemas.AuctionCreate}`), summaries from
docstrings, and the error responses from the one table in handlers/errors.py.
Built on the first request and kept for the life of the application.
"""
import inspect
import re

import orjson
import tornado.web
from tornado.websocket import WebSocketHandler

from domain import errors as domain_errors
from handlers import errors as http_errors
from handlers.base import MULTIPART, BaseHandler

METHODS = ("get", "post", "put", "patch", "delete")
REF = "#/components/schemas/{model}"
WORDS = re.compile(r"^[\w-]+(\|[\w-]+)+$")


# --- route patterns -------------------------------------------------------
def path_template(pattern: str) -> tuple[str, list[dict]]:
    """`/api/lots/([0-9a-f]{1,64})/bids` → (`/api/lots/{id}/bids`, its path
    parameters). Top-level groups only; a word alternation becomes an enum."""
    pattern = pattern.removeprefix("^").removesuffix("$")
    out, params, depth, start, i = [], [], 0, 0, 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            if depth == 0:
                out.append(pattern[i + 1:i + 2])
            i += 2
            continue
        if ch == "[":  # a character class may hold parentheses: skip it whole
            end = pattern.index("]", i + 2 if pattern[i + 1:i + 2] in ("]", "^") else i + 1)
            if depth == 0:
                out.append(pattern[i:end + 1])
            i = end + 1
            continue
        if ch == "(":
            if depth == 0:
                start = i + 1
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                out.append(_parameter(pattern[start:i], params))
        elif depth == 0:
            out.append(ch)
        i += 1
    return "".join(out), params


def _parameter(group: str, params: list[dict]) -> str:
    if group.startswith("?") and not group.startswith("?P<"):
        return ""  # a non-capturing group or an assertion: no parameter
    if group.startswith("?P<"):
        name, _, group = group[3:].partition(">")
        schema = {"type": "string", "pattern": f"^{group}$"}
    elif WORDS.match(group):
        name, schema = "action", {"type": "string", "enum": group.split("|")}
    elif "0-9a-f" in group:
        name, schema = "id", {"type": "string", "pattern": f"^{group}$"}
    else:
        name, schema = "path", {"type": "string", "pattern": f"^{group}$"}
    taken = {p["name"] for p in params}
    base, n = name, 2
    while name in taken:
        name, n = f"{base}{n}", n + 1
    params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return "{" + name + "}"


def routes(app: tornado.web.Application):
    """(regex, handler class) of every route, in the table's order."""
    for rule in app.wildcard_router.rules:
        regex = getattr(rule.matcher, "regex", None)
        if regex is not None and isinstance(rule.target, type):
            yield regex.pattern, rule.target


# --- what a handler's code says ---------------------------------------------
def implemented(cls) -> list[str]:
    return [m for m in METHODS if getattr(cls, m) is not getattr(tornado.web.RequestHandler, m)]


def _code(func):
    return getattr(func, "__code__", None)


def _names(func) -> set[str]:
    code = _code(func)
    return set(code.co_names) if code else set()


def _success(func) -> str:
    consts = _code(func).co_consts if _code(func) else ()
    for status in (201, 204):
        if any(type(c) is int and c == status for c in consts):
            return str(status)
    return "200"


def _first_line(text: str | None) -> str:
    return inspect.cleandoc(text).split("\n\n")[0].replace("\n", " ") if text else ""


def _drop_internal_defaults(schema: dict) -> None:
    """A default that a client could not send (`client_id: ""` under
    minLength 1, an edit's `null`) only means "not given": leave it out."""
    for prop in schema.get("properties", {}).values():
        default = prop.get("default", 0)
        if default is None and "anyOf" not in prop or default == "" and (
                prop.get("minLength", 0) > 0 or "pattern" in prop and not re.search(prop["pattern"], "")):
            del prop["default"]


def error_codes() -> dict[int, list[str]]:
    """HTTP status → the error codes answered with it, from the domain's errors."""
    seen, todo, by_status = set(), [domain_errors.DomainError], {}
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        key = (cls.code, http_errors.http_status(cls()))
        if key not in seen:
            seen.add(key)
            by_status.setdefault(key[1], []).append(cls.code)
    return {status: sorted(set(codes)) for status, codes in sorted(by_status.items())}


# --- the document -----------------------------------------------------------
class Builder:
    def __init__(self):
        self.schemas: dict = {}
        self.tags: dict[str, str] = {}
        self.operation_ids: set[str] = set()

    def model(self, model, name: str | None = None) -> dict:
        name = name or model.__name__
        if name not in self.schemas:
            schema = model.model_json_schema(ref_template=REF)
            for sub in [schema, *schema.get("$defs", {}).values()]:
                _drop_internal_defaults(sub)
            self.schemas.update(schema.pop("$defs", {}))
            self.schemas[name] = schema
        return {"$ref": REF.format(model=name)}

    def operation(self, cls, method: str, path: str, params: list[dict]) -> dict:
        func = getattr(cls, method)
        module = inspect.getmodule(cls)
        tag = cls.__module__.rsplit(".", 1)[-1]
        self.tags.setdefault(tag, _first_line(module.__doc__ if module else ""))
        op = {"tags": [tag], "summary": _first_line(func.__doc__) or _first_line(cls.__doc__)
              or f"{method.upper()} {path}", "operationId": self._operation_id(method, cls)}
        if cls.__doc__ and inspect.cleandoc(cls.__doc__) != op["summary"]:
            op["description"] = inspect.cleandoc(cls.__doc__)
        queries = [{"name": q.name, "in": "query", "required": q.required, "schema": q.schema()}
                   for q in getattr(cls, "queries", {}).get(method, ())]
        if params or queries:
            op["parameters"] = params + queries
        if issubclass(cls, WebSocketHandler):
            return self._websocket(op)
        names = _names(func)
        operator, user = "require_operator" in names, "require_user" in names
        if cls.prepare is not BaseHandler.prepare:
            op["security"] = []  # answers without looking at a token
        elif operator or user:
            op["security"] = [{"token": []}, {"bearer": []}]
        else:
            op["security"] = [{}, {"token": []}, {"bearer": []}]  # a token, if sent, personalises
        body = getattr(cls, "bodies", {}).get(method)
        if body is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": self.model(body)}}}
        elif getattr(cls, "accepts", "") == MULTIPART and method in ("post", "put"):
            op["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["file"],
                "properties": {"file": {"type": "string", "contentMediaType": "application/octet-stream",
                                        "description": "exactly one PNG, JPEG, GIF or WebP image, under any "
                                                       "field name; its type is read from its first bytes"}}}}}}
        success = _success(func)
        media = getattr(cls, "media_type", "application/json")
        op["responses"] = {success: {"description": "No content"} if success == "204" else {
            "description": "OK" if success == "200" else "Created",
            "content": {media: {"schema": {"type": "object"} if media == "application/json" else {"type": "string"}}}}}
        errors = set()
        if "requestBody" in op:
            errors |= {400, 413, 415} | ({422} if body is not None else set())
        if user or operator:
            errors.add(401)
        if operator:
            errors.add(403)
        if params:
            errors.add(404)
        errors |= set(getattr(cls, "answers", ()))
        for status in sorted(errors):
            op["responses"][str(status)] = {"$ref": f"#/components/responses/E{status}"}
        if cls.prepare is BaseHandler.prepare:
            op["responses"]["default"] = {"$ref": "#/components/responses/Error"}
        return op

    def _operation_id(self, method: str, cls) -> str:
        base = method + cls.__name__.removesuffix("Handler")
        name, n = base, 2
        while name in self.operation_ids:
            name, n = f"{base}{n}", n + 1
        self.operation_ids.add(name)
        return name

    def _websocket(self, op: dict) -> dict:
        from handlers import ws  # the live protocol's client messages
        op["description"] = (inspect.cleandoc(inspect.getmodule(ws).__doc__ or "") + "\n\nClient messages are "
                             "JSON objects `{\"op\": NAME, …}`; their fields are in `x-client-messages`.")
        op["summary"] = "WebSocket: the live protocol (docs/ws.md)"
        op["security"] = [{}]
        op["parameters"] = [{"name": "token", "in": "query", "required": False, "schema": {"type": "string"},
                             "description": "authenticate at once (or send an `auth` message later)"}]
        op["x-client-messages"] = {name: self.model(model, "Ws" + model.__name__) for name, model in ws.OPS.items()}
        op["responses"] = {"101": {"description": "Switching protocols to WebSocket"},
                           "403": {"description": "A foreign Origin"}}
        return op

    def document(self, app: tornado.web.Application) -> dict:
        paths: dict = {}
        for pattern, cls in routes(app):
            if not issubclass(cls, (BaseHandler, WebSocketHandler)):
                continue  # static files
            path, params = path_template(pattern)
            methods = ["get"] if issubclass(cls, WebSocketHandler) else implemented(cls)
            item = paths.setdefault(path, {})
            for method in methods:
                item[method] = self.operation(cls, method, path, params)
        return {
            "openapi": "3.1.0",
            "info": {"title": "Gavel", "version": "1.0.0",
                     "description": "Real-time live auctions. Money is in cents, times are ISO-8601 UTC. "
                                    "The contract is docs/api.md and docs/ws.md."},
            "paths": paths,
            "tags": [{"name": name, "description": text} if text else {"name": name}
                     for name, text in sorted(self.tags.items())],
            "components": {
                "schemas": {**self.schemas, "Error": ERROR_SCHEMA},
                "responses": error_responses(),
                "securitySchemes": {
                    "token": {"type": "apiKey", "in": "header", "name": "Authorization",
                              "description": "`Authorization: token TOKEN` (the seeds' form)"},
                    "bearer": {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer TOKEN`"},
                },
            },
        }


ERROR_SCHEMA = {
    "type": "object", "required": ["error"],
    "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string", "description": "an error code of docs/ws.md"},
                       "message": {"type": "string"}},
        "additionalProperties": True,  # some errors add facts, such as next_min
    }},
}


def error_responses() -> dict:
    content = {"application/json": {"schema": {"$ref": REF.format(model="Error")}}}
    out = {f"E{status}": {"description": f"{status}: {', '.join(codes)}", "content": content}
           for status, codes in error_codes().items()}
    out["Error"] = {"description": "An error, with its code", "content": content}
    return out


def document(app: tornado.web.Application) -> dict:
    return Builder().document(app)


class OpenApiHandler(BaseHandler):
    """The OpenAPI 3.1 description of this API."""

    async def prepare(self):
        pass  # public, and no database read

    def get(self):
        cached = getattr(self.application, "gavel_openapi", None)
        if cached is None:
            cached = self.application.gavel_openapi = orjson.dumps(document(self.application))
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "public, max-age=300")
        self.finish(cached)
