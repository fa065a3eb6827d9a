"""Coupons end to end: the operators' console, the claim centre, claims and
their refusals, my coupons, and the claim centre watched over /ws."""
import asyncio
import time

import pytest

from domain import coupons as domain
from gavel_server import Socket
from helpers import claiming_coupon, coupon_body, create_session, database, ms, next_phone, of_type, wait_for

pytestmark = pytest.mark.gen_test(timeout=30)


async def remaining(admin, coupon_id):
    return (await admin.get(f"/api/admin/coupons/{coupon_id}"))[1]["remaining"]


async def mine(api, token):
    status, groups = await api.get("/api/my/coupons", token=token)
    assert status == 200, groups
    return groups


# --- operators ------------------------------------------------------------------------
async def test_an_operator_creates_lists_edits_and_deletes_a_coupon(admin):
    status, coupon = await admin.post("/api/admin/coupons", coupon_body(start_in=3600, stop_in=7200))
    assert status == 201, coupon
    assert (coupon["status"], coupon["status_text"], coupon["kind_text"]) == ("pending", "未开始", "立减券")
    assert (coupon["count"], coupon["claimed"], coupon["remaining"], coupon["scope"]) == (10, 0, 10, "general")
    status, listed = await admin.get("/api/admin/coupons?status=pending&scope=general")
    assert status == 200 and coupon["id"] in [c["id"] for c in listed["items"]]
    assert coupon["id"] not in [c["id"] for c in (await admin.get("/api/admin/coupons?status=claiming"))[1]["items"]]
    assert coupon["id"] not in [c["id"] for c in (await admin.get("/api/admin/coupons?scope=lot"))[1]["items"]]
    status, edited = await admin.put(f"/api/admin/coupons/{coupon['id']}",
                                     {"kind": "discount", "value": 88, "max_off": 5000, "count": 50})
    assert status == 200 and (edited["kind"], edited["value"], edited["max_off"]) == ("discount", 88, 5000)
    assert edited["remaining"] == 50 and edited["title"] == coupon["title"]
    assert (await admin.delete(f"/api/admin/coupons/{coupon['id']}"))[0] == 204
    assert (await admin.get(f"/api/admin/coupons/{coupon['id']}"))[0] == 404
    assert (await admin.delete(f"/api/admin/coupons/{coupon['id']}"))[0] == 404
    assert coupon["id"] not in [c["id"] for c in (await admin.get("/api/admin/coupons"))[1]["items"]]


async def test_a_coupon_is_bound_to_a_session_or_to_one_lot_which_must_exist(admin):
    auction, (lot,) = await create_session(admin)
    status, on_session = await admin.post("/api/admin/coupons", coupon_body(scope="auction", auction_id=auction["id"],
                                                                            valid_days=0))
    assert status == 201 and on_session["auction_id"] == auction["id"] and on_session["lot_id"] is None
    status, on_lot = await admin.post("/api/admin/coupons", coupon_body(scope="lot", lot_id=lot["id"]))
    assert status == 201 and (on_lot["auction_id"], on_lot["lot_id"]) == (auction["id"], lot["id"])
    missing = "f" * 32
    for scope, field in (("auction", "auction_id"), ("lot", "lot_id")):
        status, body = await admin.post("/api/admin/coupons", coupon_body(scope=scope, **{field: missing}))
        assert status == 404 and body["error"]["code"] == "not_found"
    status, listed = await admin.get("/api/admin/coupons?scope=lot")
    assert [c["scope_title"] for c in listed["items"] if c["id"] == on_lot["id"]] == [lot["title"]]


@pytest.mark.parametrize("change, status", [
    ({"value": 20.5}, 400), ({"value": "2000"}, 400), ({"count": 2.5}, 400), ({"claim_start": 1700000000000}, 400),
    ({"value": 0}, 422), ({"value": -100}, 422), ({"count": 0}, 422), ({"kind": "gift"}, 422),
    ({"kind": "discount", "value": 100}, 422), ({"kind": "discount", "value": 0}, 422),
    ({"kind": "threshold"}, 422), ({"min_spend": 5000}, 422), ({"max_off": -1}, 422),
    ({"claim_start": "2030-01-02T00:00:00Z", "claim_end": "2030-01-01T00:00:00Z"}, 422),
    ({"use_start": "2031-01-02T00:00:00Z", "use_end": "2031-01-01T00:00:00Z", "valid_days": 0}, 422),
    ({"use_start": "2031-01-01T00:00:00Z", "use_end": "2031-01-02T00:00:00Z"}, 422),  # and valid_days
    ({"valid_days": 0}, 422), ({"title": "买一\n送一"}, 422), ({"title": ""}, 422), ({"title": "x" * 65}, 422),
    ({"scope": "auction"}, 422), ({"scope": "general", "lot_id": "ab12"}, 422), ({"lot_id": "LOT!"}, 422),
])
async def test_a_bad_coupon_body_gets_its_status_and_stores_nothing(admin, change, status):
    before = len((await admin.get("/api/admin/coupons"))[1]["items"])
    code, body = await admin.post("/api/admin/coupons", {**coupon_body(), **change})
    assert code == status, body
    assert body["error"]["code"] == "invalid_request"
    assert len((await admin.get("/api/admin/coupons"))[1]["items"]) == before


async def test_only_operators_manage_coupons(api):
    token, _ = await api.login(next_phone())
    assert (await api.post("/api/admin/coupons", coupon_body(), token=token))[0] == 403
    assert (await api.get("/api/admin/coupons", token=""))[0] == 401


async def test_a_coupon_being_given_out_can_no_longer_be_edited(admin):
    coupon = await claiming_coupon(admin)
    status, body = await admin.put(f"/api/admin/coupons/{coupon['id']}", {"value": 5000})
    assert status == 409 and body["error"]["code"] == "conflict"
    assert (await admin.get(f"/api/admin/coupons/{coupon['id']}"))[1]["value"] == 2000


# --- the claim centre and claims -------------------------------------------------------------
async def test_the_claim_centre_shows_coupons_given_out_or_over_but_not_pending_or_deleted_ones(admin, api):
    open_ = await claiming_coupon(admin)
    over = await claiming_coupon(admin, stop_in=0.5)
    pending = (await admin.post("/api/admin/coupons", coupon_body(start_in=3600, stop_in=7200)))[1]
    withdrawn = await claiming_coupon(admin)
    assert (await admin.delete(f"/api/admin/coupons/{withdrawn['id']}"))[0] == 204
    await wait_for(lambda: admin.get(f"/api/admin/coupons/{over['id']}"), lambda r: r[1]["status"] == "ended")
    token, _ = await api.login(next_phone())
    assert (await api.post(f"/api/coupons/{open_['id']}/claim", token=token))[0] == 201
    status, centre = await api.get("/api/coupons", token=token)
    assert status == 200
    seen = {c["id"]: c for c in centre["items"]}
    assert open_["id"] in seen and over["id"] in seen
    assert pending["id"] not in seen and withdrawn["id"] not in seen
    shown = seen[open_["id"]]
    assert (shown["status_text"], shown["remaining"], shown["held"]) == ("领取中", 9, True)
    assert (seen[over["id"]]["status_text"], seen[over["id"]]["held"]) == ("已结束", False)
    anonymous = {c["id"]: c for c in (await api.get("/api/coupons"))[1]["items"]}
    assert anonymous[open_["id"]]["held"] is False


async def test_a_claim_gives_one_unused_coupon_with_its_expiry_and_takes_one_from_what_remains(admin, api):
    coupon = await claiming_coupon(admin)
    token, _ = await api.login(next_phone())
    status, body = await api.post(f"/api/coupons/{coupon['id']}/claim", token=token)
    assert status == 201, body
    uc = body["user_coupon"]
    assert body["remaining"] == 9 and await remaining(admin, coupon["id"]) == 9
    assert (uc["coupon_id"], uc["status"], uc["status_text"], uc["title"], uc["kind"], uc["value"]) == (
        coupon["id"], "unused", "未使用", "新人立减", "cash", 2000)
    assert ms(uc["expires_at"]) - ms(uc["claimed_at"]) == 7 * 86400 * 1000
    groups = await mine(api, token)
    assert [i["id"] for i in groups["unused"]["items"]] == [uc["id"]]
    assert (groups["unused"]["text"], groups["used"]["text"], groups["expired"]["text"]) == ("未使用", "已使用", "已过期")


async def test_refused_claims_answer_their_code_and_change_nothing(admin, api):
    token, _ = await api.login(next_phone())
    other, _ = await api.login(next_phone())
    last_one = await claiming_coupon(admin, count=1)
    assert (await api.post(f"/api/coupons/{last_one['id']}/claim", token=other))[0] == 201
    held = await claiming_coupon(admin)
    assert (await api.post(f"/api/coupons/{held['id']}/claim", token=token))[0] == 201
    pending = (await admin.post("/api/admin/coupons", coupon_body(start_in=3600, stop_in=7200)))[1]
    over = await claiming_coupon(admin, stop_in=0.3)
    await wait_for(lambda: admin.get(f"/api/admin/coupons/{over['id']}"), lambda r: r[1]["status"] == "ended")
    withdrawn = await claiming_coupon(admin)
    assert (await admin.delete(f"/api/admin/coupons/{withdrawn['id']}"))[0] == 204
    before = await mine(api, token)
    cases = [(last_one["id"], token, 409, "coupon_sold_out"), (held["id"], token, 409, "coupon_already_claimed"),
             (pending["id"], token, 409, "coupon_unavailable"), (over["id"], token, 409, "coupon_unavailable"),
             (withdrawn["id"], token, 409, "coupon_unavailable"), ("f" * 32, token, 404, "not_found"),
             (held["id"], "", 401, "unauthorized")]
    for coupon_id, who, status, code in cases:
        got, body = await api.post(f"/api/coupons/{coupon_id}/claim", token=who)
        assert (got, body["error"]["code"]) == (status, code), coupon_id
    assert await mine(api, token) == before
    for coupon, left in ((last_one, 0), (held, 9), (pending, 10), (over, 10)):
        assert await remaining(admin, coupon["id"]) == left


async def test_twenty_simultaneous_claims_by_one_user_give_one_coupon(admin, api, server):
    coupon = await claiming_coupon(admin)
    token, user = await api.login(next_phone())
    answers = await asyncio.gather(*(api.post(f"/api/coupons/{coupon['id']}/claim", token=token) for _ in range(20)))
    assert sorted(status for status, _ in answers) == [201] + [409] * 19
    assert {body["error"]["code"] for status, body in answers if status == 409} == {"coupon_already_claimed"}
    assert await remaining(admin, coupon["id"]) == 9
    async with database(server.env["MONGODB_URL"]) as db:
        assert await db.user_coupons.count_documents({"coupon_id": coupon["id"], "user_id": user["id"]}) == 1


async def test_my_coupons_are_grouped_with_a_locked_one_among_the_unused(admin, api, server):
    coupons = [await claiming_coupon(admin, title=f"券{i}") for i in range(4)]
    token, user = await api.login(next_phone())
    ids = [(await api.post(f"/api/coupons/{c['id']}/claim", token=token))[1]["user_coupon"]["id"] for c in coupons]
    order = {"user_id": user["id"], "lot_id": "L", "auction_id": "A", "price": 30000}
    async with database(server.env["MONGODB_URL"]) as db:
        now = time.time_ns() // 10**6
        await domain.lock_for_payment(db, order, ids[0], "P1", now)
        await domain.lock_for_payment(db, order, ids[1], "P2", now)
        await domain.spend_for_order(db, ids[1], "P2", "O2", now)
        await db.user_coupons.update_one({"_id": ids[2]}, {"$set": {"expires_at": now - 1}})
        await domain.expire_due(db, now)
    groups = await mine(api, token)
    assert {i["id"]: i["status_text"] for i in groups["unused"]["items"]} == {ids[0]: "锁定中", ids[3]: "未使用"}
    assert [(i["id"], i["order_id"]) for i in groups["used"]["items"]] == [(ids[1], "O2")]
    assert [i["id"] for i in groups["expired"]["items"]] == [ids[2]]


# --- the claim centre over /ws ---------------------------------------------------------------
async def test_a_claim_centre_watcher_gets_every_coupon_then_coalesced_changes(admin, api, server):
    coupon = await claiming_coupon(admin, count=30)
    watcher = await Socket.open(server.ws_url)
    await watcher.send({"op": "subscribe", "coupons": True})
    first = await watcher.until(of_type("coupons"))
    assert first["snapshot"] is True
    assert [(i["remaining"], i["status_text"]) for i in first["items"] if i["id"] == coupon["id"]] == [(30, "领取中")]
    tokens = [(await api.login(next_phone()))[0] for _ in range(12)]
    await asyncio.gather(*(api.post(f"/api/coupons/{coupon['id']}/claim", token=t) for t in tokens))
    seen, frames = 30, 0
    while seen > 18:
        frame = await watcher.until(lambda f: f["type"] == "coupons" and coupon["id"] in [i["id"] for i in f["items"]])
        frames += 1
        now_seen = next(i["remaining"] for i in frame["items"] if i["id"] == coupon["id"])
        assert now_seen < seen
        seen = now_seen
    assert frames < 12  # coalesced: at most one frame per 200 ms
    await watcher.send({"op": "unsubscribe", "coupons": True})
    assert await watcher.until(of_type("unsubscribed")) == {"type": "unsubscribed", "coupons": True}
    token, _ = await api.login(next_phone())
    assert (await api.post(f"/api/coupons/{coupon['id']}/claim", token=token))[0] == 201
    with pytest.raises(asyncio.TimeoutError):
        await watcher.until(of_type("coupons"), timeout=0.6)
    watcher.close()
