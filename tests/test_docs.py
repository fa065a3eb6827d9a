"""The project's own reference stays true to the code: every route of the
route table is in the OpenAPI document and in docs/api.md (and nothing
else is), every error code, response field, socket message, lifecycle and
setting the code has is in docs/api.md, docs/ws.md, docs/rules.md or the
README's configuration table. The application is built in-process (a
client that never connects, the in-process broker): no server, no store."""
import ast
import asyncio
import re
from pathlib import Path

import pytest
from tornado.web import StaticFileHandler
from tornado.websocket import WebSocketHandler

from domain.checkout import Breakdown
from domain.errors import DomainError
from domain.states import MACHINES
from handlers import ws
from handlers.openapi import document, error_codes, implemented, path_template, routes
from server import db as dbmod
from server.app import build, make_app
from server.broker import create_broker
from server.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = ROOT / "handlers"
ROUTE_HEADING = re.compile(r"^#{2,6} `([A-Z]+) (/\S*)`$", re.MULTILINE)


def read(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def mentions(text: str, name: str) -> bool:
    """`name` as a word of its own (a field in backticks, a JSON key, a table cell)."""
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) is not None


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    client = dbmod.connect("mongodb://127.0.0.1:9/gavel")  # never used: the route table needs no store
    settings = Settings(data_dir=tmp_path_factory.mktemp("docs"))
    yield make_app(build(settings, client, create_broker("", "docs:"), "docs"))
    asyncio.run(client.close())


@pytest.fixture(scope="module")
def openapi(app):
    return document(app)


def served_from_disk(cls) -> bool:
    return issubclass(cls, StaticFileHandler)


def route_methods(app, openapi) -> set[tuple[str, str]]:
    """(METHOD, /path/{template}) of every route: the API's as the OpenAPI
    document has them, the files' (pages, uploads) as GET."""
    api = {(method.upper(), path) for path, item in openapi["paths"].items() for method in item}
    files = {("GET", path_template(pattern)[0]) for pattern, cls in routes(app) if served_from_disk(cls)}
    return api | files


# --- the HTTP API -------------------------------------------------------------------
def test_every_route_of_the_route_table_but_the_files_is_in_the_openapi_document(app, openapi):
    for pattern, cls in routes(app):
        if served_from_disk(cls):
            continue  # pages and uploads are files, not API operations
        path = path_template(pattern)[0]
        methods = ["get"] if issubclass(cls, WebSocketHandler) else implemented(cls)
        assert path in openapi["paths"], path
        assert set(methods) <= set(openapi["paths"][path]), (path, methods)


def test_api_md_documents_every_route_and_method_and_no_other(app, openapi):
    documented = set(ROUTE_HEADING.findall(read("docs/api.md")))
    expected = route_methods(app, openapi)
    assert not expected - documented, f"routes missing from docs/api.md: {sorted(expected - documented)}"
    assert not documented - expected, f"docs/api.md documents routes the server lacks: {sorted(documented - expected)}"


def test_api_md_names_every_query_parameter_of_the_openapi_document(openapi):
    api = read("docs/api.md")
    named = {p["name"] for item in openapi["paths"].values() for op in item.values()
             for p in op.get("parameters", []) if p["in"] == "query"}
    assert not {name for name in named if not mentions(api, name)}


def domain_codes() -> set[str]:
    todo, codes = [DomainError], set()
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        codes.add(cls.code)
    return codes


def test_every_error_code_is_in_api_md_and_ws_md_and_in_its_status_row():
    api, socket = read("docs/api.md"), read("docs/ws.md")
    for code in domain_codes():
        assert f"`{code}`" in api, f"docs/api.md lacks {code}"
        assert f"`{code}`" in socket, f"docs/ws.md lacks {code}"
    rows = {int(m[0]): m[1] for m in re.findall(r"^\| (\d{3}) \|(.*)$", api, re.MULTILINE)}
    for status, codes in error_codes().items():
        assert status in rows, f"docs/api.md has no row for {status}"
        assert all(f"`{code}`" in rows[status] for code in codes), (status, codes)


def dict_keys(nodes) -> set[str]:
    """The constant string keys of every dict literal under `nodes`."""
    return {key.value for node in nodes for sub in ast.walk(node) if isinstance(sub, ast.Dict)
            for key in sub.keys if isinstance(key, ast.Constant) and isinstance(key.value, str)}


def answer_fields() -> set[str]:
    """Every field name an HTTP answer can hold: the shapes of handlers/render.py
    (their dict literals and the extra fields handlers pass to them) and the
    dicts the handlers send themselves."""
    render = ast.parse((HANDLERS / "render.py").read_text(encoding="utf-8"))
    shapes = {f.name for f in render.body if isinstance(f, ast.FunctionDef)}
    fields, sent = dict_keys([render]), []
    for path in HANDLERS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "send" and node.args:
                sent.append(node.args[0])
            named = func.id if isinstance(func, ast.Name) else \
                func.attr if isinstance(func, ast.Attribute) and getattr(func.value, "id", "") == "render" else ""
            if named in shapes:
                fields |= {k.arg for k in node.keywords if k.arg}
    return fields | dict_keys(sent) | set(Breakdown._fields)


def test_api_md_names_every_field_of_every_answer():
    api = read("docs/api.md")
    missing = sorted(name for name in answer_fields() if not mentions(api, name))
    assert not missing, f"docs/api.md never names: {missing}"


# --- the live protocol ------------------------------------------------------------------
def server_messages() -> tuple[set[str], set[str]]:
    """(every `type`, every field) of the messages handlers/messages.py shapes."""
    tree = ast.parse((HANDLERS / "messages.py").read_text(encoding="utf-8"))
    types, fields = set(), dict_keys([tree])
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == "type" and isinstance(value, ast.Constant):
                    types.add(value.value)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "update":
            fields |= {k.arg for k in node.keywords if k.arg}
    return types, fields


def test_ws_md_documents_every_client_op_and_its_fields():
    socket = read("docs/ws.md")
    for op, model in ws.OPS.items():
        assert f"| `{op}`" in socket, f"docs/ws.md has no row for the {op} op"
        for field in model.model_fields:
            assert mentions(socket, field), f"docs/ws.md never names {op}'s {field}"


def test_ws_md_documents_every_server_message_and_its_fields():
    socket = read("docs/ws.md")
    types, fields = server_messages()
    assert {"snapshot", "bid", "status", "ack", "error", "coupons", "offer"} <= types  # the walk finds them
    for kind in types:
        assert f"**`{kind}`**" in socket, f"docs/ws.md has no entry for the {kind} message"
    missing = sorted(name for name in fields if not mentions(socket, name))
    assert not missing, f"docs/ws.md never names: {missing}"


# --- the rules, the settings, the links ---------------------------------------------------
def table_after(text: str, heading: str) -> list[list[str]]:
    """The cells of each row of the first table after `heading` (before the next heading)."""
    rows = []
    for line in text[text.index(heading) + len(heading):].splitlines():
        if line.startswith("#") or rows and not line.startswith("|"):
            break
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows[2:]  # past the header and its rule


def test_rules_md_has_every_lifecycle_table_with_its_labels_and_moves():
    rules = read("docs/rules.md")
    for machine in MACHINES:
        heading = f"#### `{machine.name}` (field `{machine.field}`)\n"
        assert heading in rules, f"docs/rules.md lacks the table of {machine.name}"
        rows = {row[0].strip("`"): row for row in table_after(rules, heading)}
        assert set(rows) == set(machine.labels), machine.name
        for state, label in machine.labels.items():
            assert rows[state][1] == label, (machine.name, state)
            sources = {s.strip('"') for s in re.findall(r"`([^`]*)`", rows[state][2])}
            assert sources == set(machine.moves.get(state, ())), (machine.name, state, rows[state][2])


def test_the_readme_configuration_table_has_every_setting():
    readme = read("README.md")
    section = readme[readme.index("## Configuration"):]
    table = "\n".join(line for line in section.splitlines() if line.startswith("|"))
    missing = [name.upper() for name in Settings.model_fields if f"`{name.upper()}`" not in table]
    assert not missing, f"the README's configuration table lacks {missing}"


def test_no_document_points_at_a_spec_a_clone_does_not_have():
    for name in ("README.md", "docs/api.md", "docs/ws.md", "docs/rules.md", "docs/architecture.md"):
        text = read(name)
        assert "../shared" not in text and "shared/spec" not in text, name
    readme = read("README.md")
    assert all(f"(docs/{doc})" in readme for doc in ("api.md", "ws.md", "rules.md"))
