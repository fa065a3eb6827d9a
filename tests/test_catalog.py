"""The operators' catalog and the public view of it."""
import pytest

from helpers import create_session, lot_body, next_phone, session_body

pytestmark = pytest.mark.gen_test(timeout=30)


async def test_operator_creates_a_session_with_lots_and_bidders_see_it(admin, api):
    auction, lots = await create_session(admin, lots=2)
    assert auction["status"] == "scheduled" and auction["status_text"] == "未开拍"
    assert auction["deposit"] == 100000 and auction["total_deal"] == 0
    status, listed = await api.get("/api/auctions")
    assert status == 200 and auction["id"] in [a["id"] for a in listed["items"]]
    status, detail = await api.get(f"/api/auctions/{auction['id']}")
    assert status == 200 and detail["lot_count"] == 2
    assert {lot["id"] for lot in detail["lots"]} == {lot["id"] for lot in lots}
    lot = lots[0]
    assert lot["status"] == "scheduled" and lot["status_text"] == "未开拍"
    assert lot["next_min"] == lot["start_price"] == 10000 and lot["increment"] == 1000
    assert lot["end_at"] == auction["auction_end"] and lot["seq"] == 0


async def test_catalog_numbers_are_generated_unique_and_a_taken_one_is_refused(admin):
    auction, lots = await create_session(admin, lots=3)
    numbers = [lot["catalog_no"] for lot in lots]
    assert len(set(numbers)) == 3 and all(n.isdigit() and len(n) == 23 for n in numbers)
    status, body = await admin.post(f"/api/admin/auctions/{auction['id']}/lots", lot_body(catalog_no=numbers[0]))
    assert status == 409 and body["error"]["code"] == "conflict"
    status, mine = await admin.post(f"/api/admin/auctions/{auction['id']}/lots", lot_body(catalog_no="A-001"))
    assert status == 201 and mine["catalog_no"] == "A-001"
    status, body = await admin.put(f"/api/admin/lots/{lots[1]['id']}", {"catalog_no": "A-001"})
    assert status == 409 and body["error"]["code"] == "conflict"


async def test_images_with_carousel_flag_and_order_and_specs_are_kept(admin, api):
    auction, _ = await create_session(admin, lots=0)
    images = [{"url": "/uploads/b.png", "carousel": False, "order": 2}, {"url": "/uploads/a.png", "carousel": True, "order": 1}]
    specs = [{"key": "年代", "value": "宋"}, {"key": "尺寸", "value": "12cm"}]
    status, lot = await admin.post(f"/api/admin/auctions/{auction['id']}/lots", lot_body(images=images, specs=specs))
    assert status == 201
    status, seen = await api.get(f"/api/lots/{lot['id']}")
    assert [i["url"] for i in seen["images"]] == ["/uploads/a.png", "/uploads/b.png"]
    assert seen["images"][0]["carousel"] is True and seen["specs"] == specs


async def test_looking_at_a_lot_counts_a_look(admin, api):
    auction, (lot,) = await create_session(admin)
    for _ in range(3):
        status, seen = await api.get(f"/api/lots/{lot['id']}")
    assert seen["look_count"] == 3
    status, detail = await api.get(f"/api/auctions/{auction['id']}")
    assert detail["look_count"] >= 3


async def test_edit_moves_fields_and_delete_hides_the_session(admin, api):
    auction, (lot,) = await create_session(admin)
    body = session_body(preview_in=100, live_in=200, end_in=300, title="改名")
    status, edited = await admin.put(f"/api/admin/auctions/{auction['id']}", body)
    assert status == 200 and edited["title"] == "改名" and edited["auction_end"] == body["auction_end"]
    status, seen = await api.get(f"/api/lots/{lot['id']}")
    assert seen["end_at"] == body["auction_end"]
    status, edited_lot = await admin.put(f"/api/admin/lots/{lot['id']}", {"start_price": 20000})
    assert status == 200 and edited_lot["start_price"] == 20000 and edited_lot["next_min"] == 20000
    assert (await admin.delete(f"/api/admin/auctions/{auction['id']}"))[0] == 204
    assert (await api.get(f"/api/auctions/{auction['id']}"))[0] == 404
    assert (await api.get(f"/api/lots/{lot['id']}"))[0] == 404
    status, listed = await api.get("/api/auctions")
    assert auction["id"] not in [a["id"] for a in listed["items"]]


async def test_deleting_a_lot_updates_the_session_count(admin, api):
    auction, lots = await create_session(admin, lots=2)
    assert (await admin.delete(f"/api/admin/lots/{lots[0]['id']}"))[0] == 204
    status, detail = await api.get(f"/api/auctions/{auction['id']}")
    assert detail["lot_count"] == 1 and [lot["id"] for lot in detail["lots"]] == [lots[1]["id"]]


@pytest.mark.parametrize("change, status", [
    ({"auction_end": "2020-01-01T00:00:00Z"}, 422),      # ends before it starts
    ({"deposit": -1}, 422), ({"deposit": 10.5}, 400), ({"deposit": "100"}, 400),
    ({"title": ""}, 422), ({"title": None}, 400), ({"preview_start": "yesterday"}, 400),
    ({"preview_start": 1700000000}, 400), ({"extend_window_s": 30}, 422),
])
async def test_bad_session_input_is_refused_and_changes_nothing(admin, change, status):
    body = {**session_body(), **change}
    before = len((await admin.get("/api/admin/auctions"))[1]["items"])
    got, answer = await admin.post("/api/admin/auctions", body)
    assert got == status and answer["error"]["code"] == "invalid_request", answer
    assert len((await admin.get("/api/admin/auctions"))[1]["items"]) == before


@pytest.mark.parametrize("change, status", [
    ({"start_price": 0}, 422), ({"start_price": 99.5}, 400), ({"increment": 0}, 422),
    ({"increment": -100}, 422), ({"estimate_low": 900, "estimate_high": 100}, 422),
    ({"images": [{"url": "x", "carousel": "yes"}]}, 400), ({"specs": "年代"}, 400),
    ({"catalog_no": "<script>"}, 422), ({"title": "x" * 65}, 422),
])
async def test_bad_lot_input_is_refused_and_changes_nothing(admin, change, status):
    auction, _ = await create_session(admin, lots=0)
    got, answer = await admin.post(f"/api/admin/auctions/{auction['id']}/lots", {**lot_body(), **change})
    assert got == status and answer["error"]["code"] == "invalid_request", answer
    status, detail = await admin.get(f"/api/admin/auctions/{auction['id']}")
    assert detail["lot_count"] == 0 and detail["lots"] == []


async def test_unknown_ids_are_404(admin, api):
    assert (await api.get("/api/auctions/ffff"))[0] == 404
    assert (await api.get("/api/lots/ffff"))[0] == 404
    assert (await admin.put("/api/admin/auctions/ffff", {"title": "x"}))[0] == 404
    assert (await admin.post("/api/admin/auctions/ffff/lots", lot_body()))[0] == 404
    assert (await admin.delete("/api/admin/lots/ffff"))[0] == 404


async def test_unknown_status_filter_is_invalid_request(api):
    status, body = await api.get("/api/auctions?status=bogus")
    assert status == 400 and body["error"]["code"] == "invalid_request"


PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def multipart(name: str, data: bytes, content_type: str = "image/png") -> tuple[bytes, str]:
    boundary = "gavelboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: {content_type}\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


OPERATOR_ROUTES = [
    ("GET", "/api/admin/auctions"), ("POST", "/api/admin/auctions"),
    ("GET", "/api/admin/auctions/{a}"), ("PUT", "/api/admin/auctions/{a}"), ("DELETE", "/api/admin/auctions/{a}"),
    ("POST", "/api/admin/auctions/{a}/lots"), ("GET", "/api/admin/lots/{l}"), ("PUT", "/api/admin/lots/{l}"),
    ("DELETE", "/api/admin/lots/{l}"), ("POST", "/api/admin/uploads"), ("GET", "/api/admin/audit?target={a}"),
]


async def test_bidders_get_403_and_anonymous_401_on_every_operator_route(admin, api):
    auction, (lot,) = await create_session(admin)
    token, _ = await api.login(next_phone())
    upload, upload_type = multipart("a.png", PNG)
    for method, path in OPERATOR_ROUTES:
        path = path.format(a=auction["id"], l=lot["id"])
        # Each route called with the media type it takes (a wrong one is 415 before anything else).
        send = {"raw": upload, "headers": {"Content-Type": upload_type}} if path.endswith("/uploads") else \
            {"body": session_body() if method != "GET" else None}
        status, body = await api.call(method, path, token=token, **send)
        assert status == 403 and body["error"]["code"] == "forbidden", (method, path, body)
        status, body = await api.call(method, path, token="", **send)
        assert status == 401 and body["error"]["code"] == "unauthorized", (method, path, body)
    status, detail = await api.get(f"/api/auctions/{auction['id']}")
    assert status == 200 and detail["title"] == "第1场"


async def test_uploaded_image_is_stored_and_served(admin, api):
    body, ctype = multipart("cup.png", PNG)
    status, answer = await admin.call("POST", "/api/admin/uploads", raw=body, headers={"Content-Type": ctype})
    assert status == 201 and answer["url"].startswith("/uploads/") and answer["url"].endswith(".png")
    from tornado.httpclient import AsyncHTTPClient
    resp = await AsyncHTTPClient().fetch(api.base_url + answer["url"])
    assert resp.body == PNG


@pytest.mark.parametrize("data", [b"<html>not an image</html>", b"RIFF\x24\x00\x00\x00WAVEfmt a sound, not a WebP"])
async def test_upload_that_is_not_an_image_is_refused(admin, data):
    body, ctype = multipart("evil.png", data)
    status, answer = await admin.call("POST", "/api/admin/uploads", raw=body, headers={"Content-Type": ctype})
    assert status == 400 and answer["error"]["code"] == "invalid_request"


async def test_a_webp_is_taken_by_its_riff_and_webp_marks(admin):
    body, ctype = multipart("cup.webp", b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(24))
    status, answer = await admin.call("POST", "/api/admin/uploads", raw=body, headers={"Content-Type": ctype})
    assert status == 201 and answer["url"].endswith(".webp")


async def test_a_live_session_and_its_lots_can_no_longer_be_edited_or_deleted(admin):
    from helpers import live_lot
    auction, (lot,) = await live_lot(admin)
    for method, path, body in (("PUT", f"/api/admin/auctions/{auction['id']}", {"title": "late"}),
                               ("DELETE", f"/api/admin/auctions/{auction['id']}", None),
                               ("POST", f"/api/admin/auctions/{auction['id']}/lots", lot_body()),
                               ("PUT", f"/api/admin/lots/{lot['id']}", {"start_price": 1}),
                               ("DELETE", f"/api/admin/lots/{lot['id']}", None)):
        status, answer = await admin.call(method, path, body)
        assert status == 409 and answer["error"]["code"] == "conflict", (method, path, answer)
    status, seen = await admin.get(f"/api/admin/auctions/{auction['id']}")
    assert seen["title"] == "第1场" and seen["status"] == "live" and seen["lots"][0]["start_price"] == 10000
