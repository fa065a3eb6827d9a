"""Phone-code login, tokens, roles and the opening line of the ledger."""
import pytest

pytestmark = pytest.mark.gen_test(timeout=30)


async def test_new_user_logs_in_with_the_sandbox_code_and_starts_with_the_balance(api):
    token, user = await api.login("13800000001")
    assert user["role"] == "bidder" and user["balance"] == 100000
    status, me = await api.get("/api/me", token=token)
    assert status == 200 and me["phone"] == "13800000001" and me["balance"] == 100000
    status, ledger = await api.get("/api/wallet/ledger", token=token)
    assert status == 200 and ledger["balance"] == 100000
    assert [(line["seq"], line["kind"], line["amount"], line["balance_after"]) for line in ledger["items"]] == [
        (1, "opening", 100000, 100000)]


async def test_second_login_is_the_same_user_and_gets_no_second_opening_balance(api):
    token1, user1 = await api.login("13800000002")
    token2, user2 = await api.login("13800000002")
    assert user1["id"] == user2["id"] and token1 != token2
    status, ledger = await api.get("/api/wallet/ledger", token=token2)
    assert len(ledger["items"]) == 1 and ledger["balance"] == 100000


async def test_bearer_form_of_the_authorization_header_works(api):
    token, _ = await api.login("13800000003")
    status, me = await api.get("/api/me", token="", headers={"Authorization": f"Bearer {token}"})
    assert status == 200 and me["phone"] == "13800000003"


async def test_wrong_code_is_refused_and_the_code_is_one_use(api):
    status, sent = await api.post("/api/auth/code", {"phone": "13800000004"})
    status, body = await api.post("/api/auth/login", {"phone": "13800000004", "code": "000000" if sent["dev_code"] != "000000" else "111111"})
    assert status == 401 and body["error"]["code"] == "unauthorized"
    status, body = await api.post("/api/auth/login", {"phone": "13800000004", "code": sent["dev_code"]})
    assert status == 200
    status, body = await api.post("/api/auth/login", {"phone": "13800000004", "code": sent["dev_code"]})
    assert status == 401


async def test_asking_for_codes_too_fast_is_rate_limited(api):
    assert (await api.post("/api/auth/code", {"phone": "13800000006"}))[0] == 200
    status, body = await api.post("/api/auth/code", {"phone": "13800000006"})
    assert status == 429 and body["error"]["code"] == "rate_limited"


@pytest.mark.parametrize("body, status", [
    ({}, 400), ({"phone": 13800000007}, 400), ({"phone": "abc"}, 422), ({"phone": None}, 400),
])
async def test_bad_login_input_gets_a_clear_error(api, body, status):
    got, answer = await api.post("/api/auth/code", body)
    assert got == status and answer["error"]["code"] == "invalid_request"


async def test_body_that_is_not_json_is_invalid_request(api):
    status, body = await api.call("POST", "/api/auth/code", raw=b"{not json")
    assert status == 400 and body["error"]["code"] == "invalid_request"
    status, body = await api.call("POST", "/api/auth/code", raw=b"[1,2]")
    assert status == 400 and body["error"]["code"] == "invalid_request"


async def test_oversized_body_is_413_too_large(api):
    status, body = await api.call("POST", "/api/auth/code", raw=b'{"phone":"' + b"1" * (2 * 1024 * 1024) + b'"}')
    assert status == 413 and body["error"]["code"] == "too_large"


async def test_anonymous_and_bad_tokens_get_401(api):
    for token in ("", "not-a-token"):
        status, body = await api.get("/api/me", token=token)
        assert status == 401 and body["error"]["code"] == "unauthorized"
        status, body = await api.get("/api/wallet/ledger", token=token)
        assert status == 401


async def test_operator_token_from_admin_token_is_an_operator(admin):
    status, me = await admin.get("/api/me")
    assert status == 200 and me["role"] == "operator"


async def test_unknown_route_is_404_not_found(api):
    status, body = await api.get("/api/nothing-here")
    assert status == 404 and body["error"]["code"] == "not_found"


async def test_health_reports_mongodb_redis_and_scheduler(api):
    status, body = await api.get("/healthz")
    assert status == 200
    assert body["mongodb"] == "ok" and body["redis"] == "ok" and body["scheduler"] == "ok"
