"""Issue 16, accounts: no stranger can lock a bidder out of login, and
phones are one account however they are written. The server trusts its
loopback peer as a proxy, so each test plays an attacker and a victim from
different client addresses (X-Forwarded-For) on one machine."""
import asyncio
import itertools

import pytest

from gavel_server import Api
from helpers import database, next_phone

pytestmark = pytest.mark.gen_test(timeout=60)
_address = itertools.count(1)


def new_address() -> str:
    n = next(_address)
    return f"198.51.{n // 250}.{n % 250 + 1}"


class Client:
    """A client at its own address, as seen through the trusted proxy."""

    def __init__(self, server, address: str = ""):
        self.api, self.address = Api(server.url), address or new_address()

    async def post(self, path: str, body: dict, token: str = ""):
        return await self.api.post(path, body, token=token, headers={"X-Forwarded-For": self.address})

    async def code(self, phone: str):
        return await self.post("/api/auth/code", {"phone": phone})

    async def login(self, phone: str, code: str):
        return await self.post("/api/auth/login", {"phone": phone, "code": code})


def wrong_codes(right: str, n: int) -> list[str]:
    return [c for c in (f"{i:06d}" for i in range(1, n + 2)) if c != right][:n]


@pytest.fixture(scope="module")
def guarded(server_factory):
    return server_factory("guard", TRUSTED_PROXIES="127.0.0.1")


@pytest.fixture(scope="module")
def eager(server_factory):
    """Codes may be asked for back to back (no interval): several live at once."""
    return server_factory("eager", TRUSTED_PROXIES="127.0.0.1", LOGIN_CODE_INTERVAL_S=0)


@pytest.fixture(scope="module")
def sending(server_factory):
    """Codes really 'sent' (no sandbox), with small caps to reach."""
    return server_factory("sending", TRUSTED_PROXIES="127.0.0.1", SMS_SANDBOX=0, LOGIN_CODE_INTERVAL_S=0,
                          LOGIN_CODES_PER_PHONE_HOUR=3, LOGIN_CODES_PER_ADDRESS_HOUR=4)


async def test_the_owner_logs_in_while_a_stranger_guesses_wrong_for_its_phone(guarded):
    phone, owner, stranger = next_phone(), Client(guarded), Client(guarded)
    status, sent = await owner.code(phone)
    assert status == 200
    answers = [await stranger.login(phone, code) for code in wrong_codes(sent["dev_code"], 20)]
    statuses = [status for status, _ in answers]
    assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}, statuses
    assert all(body["error"]["retry_after"] >= 1 for status, body in answers if status == 429)
    status, body = await owner.login(phone, sent["dev_code"])
    assert status == 200 and body["user"]["phone"] == phone


async def test_a_stranger_on_many_addresses_cannot_try_codes_it_did_not_ask_for(guarded):
    phone, owner = next_phone(), Client(guarded)
    status, sent = await owner.code(phone)
    strangers = [Client(guarded) for _ in range(12)]
    statuses = [(await s.login(phone, wrong_codes(sent["dev_code"], 1)[0]))[0] for s in strangers]
    # Five wrong guesses, then the phone is guarded: only where a code was asked for is a code tried.
    assert statuses == [401] * 5 + [429] * 7, statuses
    status, body = await Client(guarded).login(phone, sent["dev_code"])  # the right code, elsewhere
    assert status == 429 and "where it was asked for" in body["error"]["message"]
    status, body = await owner.login(phone, sent["dev_code"])
    assert status == 200, body


async def test_a_guarded_phone_lets_an_address_try_its_own_code_three_times_only(eager):
    phone, owner, stranger = next_phone(), Client(eager), Client(eager)
    status, owners = await owner.code(phone)
    for client in [Client(eager) for _ in range(5)]:  # five wrong guesses guard the phone
        assert (await client.login(phone, wrong_codes(owners["dev_code"], 1)[0]))[0] == 401
    status, strangers = await stranger.code(phone)
    assert status == 200
    wrong = [c for c in wrong_codes("", 6) if c not in (strangers["dev_code"], owners["dev_code"])][:4]
    statuses = [(await stranger.login(phone, code))[0] for code in wrong]
    assert statuses == [401, 401, 401, 429], statuses
    assert (await stranger.login(phone, owners["dev_code"]))[0] == 429  # never the owner's code
    status, body = await owner.login(phone, owners["dev_code"])
    assert status == 200, body


async def test_a_guesser_is_stopped_after_five_wrong_codes_and_waits_longer_each_time(guarded):
    phone, guesser = next_phone(), Client(guarded)
    status, sent = await guesser.code(phone)
    wrong = wrong_codes(sent["dev_code"], 7)
    for code in wrong[:5]:
        assert (await guesser.login(phone, code))[0] == 401
    status, body = await guesser.login(phone, wrong[5])
    assert status == 429 and body["error"]["code"] == "rate_limited" and body["error"]["retry_after"] == 1
    await asyncio.sleep(1.1)
    assert (await guesser.login(phone, wrong[5]))[0] == 401
    status, body = await guesser.login(phone, wrong[6])
    assert status == 429 and body["error"]["retry_after"] == 2
    await asyncio.sleep(2.1)
    # Its own code, asked for from here, still works: guesses cost the guesser time, not the code.
    status, body = await guesser.login(phone, sent["dev_code"])
    assert status == 200, body


async def test_asking_a_code_for_someone_else_voids_nothing(eager):
    phone, owner, stranger = next_phone(), Client(eager), Client(eager)
    status, owners = await owner.code(phone)
    assert status == 200
    for _ in range(3):
        assert (await stranger.code(phone))[0] == 200
    status, body = await owner.login(phone, owners["dev_code"])
    assert status == 200, body
    status, body = await owner.login(phone, owners["dev_code"])
    assert status == 401  # one use


async def test_a_second_code_waits_for_the_interval_while_the_first_is_unused(guarded):
    phone, client = next_phone(), Client(guarded)
    status, sent = await client.code(phone)
    status, body = await client.code(phone)
    assert status == 429 and 55 <= body["error"]["retry_after"] <= 60
    assert (await client.login(phone, sent["dev_code"]))[0] == 200
    assert (await client.code(phone))[0] == 200  # used: the next login may ask at once


async def test_sending_is_capped_per_phone_and_per_address_outside_the_sandbox(sending):
    phone, first, second = next_phone(), Client(sending), Client(sending)
    for _ in range(3):
        status, body = await first.code(phone)
        assert status == 200 and body == {"sent": True}  # no dev_code: really sent
    status, body = await second.code(phone)
    assert status == 429 and "3 codes an hour for a phone" in body["error"]["message"]
    assert 3500 <= body["error"]["retry_after"] <= 3600
    statuses = [(await second.code(next_phone()))[0] for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429], statuses
    assert (await Client(sending).code(next_phone()))[0] == 200  # another address is not held back


async def test_a_phone_written_any_usual_way_is_one_account(guarded):
    client, ids = Client(guarded), set()
    for written in ("13911112222", "+86 139 1111 2222", "013911112222", "8613911112222", "0086-139-1111-2222"):
        status, sent = await client.code(written)
        assert status == 200, sent
        status, body = await client.login(written, sent["dev_code"])
        assert status == 200 and body["user"]["phone"] == "13911112222", body
        ids.add(body["user"]["id"])
    assert len(ids) == 1


@pytest.mark.parametrize("phone", ["12345", "+1 415 555 0100", "１３９００００００09", "1391111222a", "23911112222"])
async def test_what_is_not_a_mobile_number_is_refused_with_422(guarded, phone):
    status, body = await Client(guarded).code(phone)
    assert status == 422 and body["error"]["code"] == "invalid_request"
    assert "mobile number" in body["error"]["message"]


async def test_users_stored_before_phones_were_normalised_are_found_by_their_number(server_factory):
    server = server_factory("phones-upgrade")
    async with database(server.env["MONGODB_URL"]) as db:
        await db.users.insert_many([
            {"_id": "a" * 32, "phone": "+86 139 2222 3333", "nickname": "旧", "role": "bidder", "created_at": 1,
             "banned_until": 0},
            {"_id": "b" * 32, "phone": "8613944445555", "nickname": "老", "role": "bidder", "created_at": 1,
             "banned_until": 0},
            {"_id": "c" * 32, "phone": "13944445555", "nickname": "新", "role": "bidder", "created_at": 2,
             "banned_until": 0},
        ])
        await db.upgrades.delete_many({})
    server.restart()
    for phone, user_id in (("13922223333", "a" * 32), ("13944445555", "c" * 32)):
        token, user = await Api(server.url).login(phone)
        assert user["id"] == user_id and user["phone"] == phone
    assert "user " + "b" * 32 + " has phone '8613944445555'" in server.log_text()
