"""The pages in a real browser (headless Chromium): two bidders against each
other, a socket cut mid-auction, the operator's console, markup in a title,
a phone-sized screen, the Content-Security-Policy, the labels, the demo.

Every tab a test opens is checked at the end for console errors (a CSP
violation is one) and uncaught exceptions."""
import json
import re
import time
from urllib.parse import quote

from playwright.sync_api import expect

from browser import admin, api, browser, in_room, open_tab, png, run, shot, shows, tabs  # noqa: F401 (fixtures)
from domain.errors import DomainError
from handlers.edge import CSP
from helpers import (ADDRESS, bidder, claiming_coupon, create_session, live_lot, lot_body, ms, next_phone,
                     wait_for)

MARKUP = "<img src=x onerror=alert(1)>"


def test_two_bidders_outbid_each_other_and_each_sees_it_within_a_second(server, tabs):
    auction, (lot,) = run(lambda: live_lot(admin(server)))
    room = f"/lot.html?id={lot['id']}"
    a = tabs()  # logs in on the page and pays the lot deposit there
    a.goto(f"/login.html?next={quote(room)}")
    a.page.fill("#phone", next_phone())
    a.page.click("#send-code")
    expect(a.page.locator(".dev-code")).to_contain_text(re.compile(r"\d{6}"))
    a.page.click("#login")
    a.page.wait_for_url(f"**{room}")
    a.page.click("#pay-lot-deposit")
    expect(a.page.locator("#deposit-held")).to_contain_text("单品保证金")
    token_b, _ = run(lambda: bidder(api(server), auction["id"]))
    b = tabs(bidder=token_b)
    in_room(b, lot["id"])
    expect(a.page.locator("#bid-now")).to_have_text("出价 ¥100")

    clicked = time.monotonic()
    a.page.click("#bid-now")
    shows(b.page, "#price", "¥100", within=1)
    assert time.monotonic() - clicked < 1
    expect(a.page.locator("#lead")).to_be_visible()
    expect(b.page.locator("#bid-now")).to_have_text("出价 ¥110")

    clicked = time.monotonic()
    b.page.click("#bid-now")
    shows(a.page, "#price", "¥110", within=1)
    shows(a.page, "[data-notice=outbid]", "已被超越", within=1 - (time.monotonic() - clicked))
    assert time.monotonic() - clicked < 1
    expect(a.page.locator("#lead")).to_be_hidden()

    a.page.fill("#custom-price", "200")  # eight increments above the next bid: asks first
    a.page.click("#bid-custom")
    expect(a.page.locator("dialog.confirm")).to_contain_text("¥200")
    clicked = time.monotonic()
    a.page.click("dialog.confirm button.primary")
    shows(b.page, "#price", "¥200", within=1)
    shows(b.page, "[data-notice=outbid]", "已被超越", within=1 - (time.monotonic() - clicked))
    assert time.monotonic() - clicked < 1
    expect(b.page.locator("#bids li.bid .price")).to_have_text(["¥200", "¥110", "¥100"])
    expect(a.page.locator("#toasts .toast")).to_have_count(0)
    shot(a.page, "lot-room", full_page=True)


def test_a_cut_socket_reconnects_and_catches_up_without_a_reload(server, tabs):
    auction, (lot,) = run(lambda: live_lot(admin(server)))
    token_a, token_b, token_c = (run(lambda: bidder(api(server), auction["id"]))[0] for _ in range(3))
    a = tabs(bidder=token_a)
    sockets, cut = [], [False]

    def route(ws):
        sockets.append(ws)
        if cut[0]:
            ws.close()  # the network is still down: this attempt fails too
        else:
            ws.connect_to_server()
    a.page.route_web_socket("**/ws", route)
    in_room(a, lot["id"])
    a.page.click("#bid-now")
    shows(a.page, "#price", "¥100", within=2)
    a.page.evaluate("window.sameDocument = true")

    cut[0] = True
    sockets[-1].close()
    expect(a.page.locator("[data-notice=conn]")).to_be_visible()
    for token, price in ((token_b, 11000), (token_c, 12000)):  # bids the page cannot hear of
        status, _ = run(lambda: api(server, token).post(f"/api/lots/{lot['id']}/bids", {"price": price}))
        assert status == 201
    time.sleep(0.5)
    assert "¥100" in a.page.text_content("#price")
    cut[0] = False

    shows(a.page, "#price", "¥120", within=10)
    assert a.page.evaluate("window.sameDocument") is True  # caught up without a reload
    assert len(sockets) >= 2
    expect(a.page.locator("[data-notice=conn]")).to_have_count(0)
    expect(a.page.locator("#bids li.bid .price")).to_have_text(["¥120", "¥110", "¥100"])
    expect(a.page.locator("#lead")).to_be_hidden()
    a.page.click("#bid-now")  # and bidding goes on
    shows(a.page, "#price", "¥130", within=2)
    expect(a.page.locator("#lead")).to_be_visible()


def test_a_missed_bid_frame_is_noticed_by_its_seq_and_fetched_again(server, tabs):
    auction, (lot,) = run(lambda: live_lot(admin(server)))
    tokens = [run(lambda: bidder(api(server), auction["id"]))[0] for _ in range(3)]
    watcher = tabs()
    withheld = []

    def route(ws):
        upstream = ws.connect_to_server()

        def down(message):
            frame = json.loads(message)
            if frame.get("type") == "bid" and frame.get("seq") == 2 and not withheld:
                withheld.append(frame)  # lost once on the way; the replay brings it
                return
            ws.send(message)
        upstream.on_message(down)
    watcher.page.route_web_socket("**/ws", route)
    in_room(watcher, lot["id"])
    for token, price in zip(tokens, (10000, 11000, 12000)):
        status, _ = run(lambda: api(server, token).post(f"/api/lots/{lot['id']}/bids", {"price": price}))
        assert status == 201
    shows(watcher.page, "#price", "¥120", within=5)
    expect(watcher.page.locator("#bids li.bid .price")).to_have_text(["¥120", "¥110", "¥100"])
    assert [f["seq"] for f in withheld] == [2]


def test_the_operator_pauses_resumes_and_undoes_and_bidders_see_each(server, tabs):
    auction, (lot,) = run(lambda: live_lot(admin(server)))
    token_a, token_b = (run(lambda: bidder(api(server), auction["id"]))[0] for _ in range(2))
    a, b = tabs(bidder=token_a), tabs(bidder=token_b)
    op = tabs(operator=server.admin_token)
    for tab in (a, b):
        in_room(tab, lot["id"])
    op.goto(f"/admin/live.html?id={lot['id']}")
    a.page.click("#bid-now")
    expect(b.page.locator("#bid-now")).to_have_text("出价 ¥110")
    b.page.click("#bid-now")
    expect(op.page.locator("#admin-bids tr")).to_have_count(2)
    expect(op.page.locator("#price")).to_have_text("¥110")

    op.page.click("#control-pause")
    for tab in (a, b):
        expect(tab.page.locator("[data-notice=state]")).to_contain_text("暂停")
        expect(tab.page.locator("#bid-now")).to_be_disabled()
    op.page.click("#control-resume")
    expect(a.page.locator("#bid-now")).to_be_enabled()
    expect(a.page.locator("[data-notice=state]")).to_have_count(0)

    op.page.click("#control-undo")
    op.page.click("dialog.confirm button.primary")
    expect(b.page.locator("[data-notice=outbid]")).to_contain_text("¥110 的出价已被拍卖师撤销")
    for tab in (a, b):
        expect(tab.page.locator("#price")).to_have_text("¥100")
        expect(tab.page.locator("#bids li.bid.void")).to_contain_text("¥110")
        expect(tab.page.locator("#bids li.bid.void")).to_contain_text("已撤销")
    expect(a.page.locator("#lead")).to_be_visible()  # the bid before the withdrawn one leads again
    expect(op.page.locator("#admin-bids tr")).to_have_count(3)
    expect(op.page.locator("#audit")).to_contain_text("bid_undone")
    expect(op.page.locator("#audit")).to_contain_text("resumed")


def test_a_late_bid_extends_the_lot_and_the_winner_finds_the_order(server, tabs):
    auction, (lot,) = run(lambda: live_lot(admin(server), end_in=5, extend_window_s=3, extend_by_s=3))
    token, _ = run(lambda: bidder(api(server), auction["id"]))
    a = tabs(bidder=token)
    in_room(a, lot["id"])
    time.sleep(max(0, ms(lot["end_at"]) / 1000 - time.time() - 2))  # inside the last 3 s
    a.page.click("#bid-now")
    expect(a.page.locator("[data-notice=extension]")).to_contain_text("延时")
    expect(a.page.locator("[data-notice=state]")).to_contain_text("已成交，成交价 ¥100", timeout=8000)
    expect(a.page.locator("[data-notice=won]")).to_be_visible()
    expect(a.page.locator("#bid-now")).to_be_disabled()

    a.goto("/orders.html?tab=unpaid")
    expect(a.page.locator("[role=tab][aria-selected=true]")).to_have_attribute("data-tab", "unpaid")
    order = a.page.locator("article.order", has_text="拍品0")
    expect(order).to_contain_text("¥100")
    expect(order).to_contain_text("请在")

    async def paid():  # from the balance, over the API (tests/test_pages_money.py pays from the pay page)
        buyer = api(server, token)
        (unpaid,) = (await buyer.get("/api/orders?status=unpaid"))[1]["unpaid"]["items"]
        address = (await buyer.post("/api/addresses", ADDRESS))[1]
        status, body = await buyer.post(f"/api/orders/{unpaid['id']}/pay", {"address_id": address["id"], "pay_type": "balance"})
        assert status == 200 and body["order"]["status"] == "to_receive", body
    run(paid)
    a.goto("/orders.html?tab=to_receive")
    a.page.locator("article.order", has_text="拍品0").locator("button.receive").click()
    expect(a.page.locator("#toasts")).to_contain_text("已确认收货")
    a.page.click("[data-tab=completed]")
    expect(a.page.locator("article.order", has_text="拍品0")).to_contain_text("已完成")
    assert a.page.url.endswith("?tab=completed")


def test_an_operator_builds_a_session_in_the_console_and_bidders_see_it(server, tabs):
    op = tabs()
    op.goto("/admin/")
    op.page.fill("#operator-token", server.admin_token)
    op.page.click("#operator-login")
    op.page.click("#new-session")
    op.page.fill("#f-title", "春季茶器专场")
    op.page.set_input_files("#f-cover", files=[png(0)])
    expect(op.page.locator("[data-picker=cover] img")).to_have_count(1)
    op.page.fill("#f-deposit", "300")
    op.page.fill("#f-extend_window_s", "10")
    op.page.fill("#f-extend_by_s", "20")
    op.page.click("#save-session")
    op.page.wait_for_url(re.compile(r"/admin/auction\.html\?id=[0-9a-f]+$"))
    session_id = op.page.url.rsplit("=", 1)[1]

    op.page.click("#new-lot")
    op.page.fill("#f-title", "明代青花茶碗")
    op.page.set_input_files("#f-cover", files=[png(1)])
    op.page.set_input_files("#f-images", files=[png(2), png(3)])
    expect(op.page.locator("[data-picker=images] img")).to_have_count(2)
    for name, value in (("start_price", "500"), ("increment", "50"), ("estimate_low", "800"), ("estimate_high", "1500"),
                        ("deposit", "50")):
        op.page.fill(f"#f-{name}", value)
    op.page.click("#add-spec")
    op.page.fill(".spec-key", "年代")
    op.page.fill(".spec-value", "明")
    op.page.click("#save-lot")
    op.page.wait_for_url(f"**/admin/auction.html?id={session_id}")
    row = op.page.locator("tbody tr", has_text="明代青花茶碗")
    expect(row).to_contain_text("¥500")
    expect(row).to_contain_text("¥800 – ¥1,500")
    assert row.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")
    shot(op.page, "console", full_page=True)

    status = run(lambda: admin(server).get(f"/api/admin/auctions/{session_id}"))[1]["status"]
    b = tabs()
    b.goto(f"/?status={status}")
    card = b.page.locator(f"article.session[data-id='{session_id}']")
    expect(card).to_contain_text("春季茶器专场")
    expect(card).to_contain_text("全场保证金 ¥300")
    card.locator("a.title").click()
    lot_card = b.page.locator(".lot-card", has_text="明代青花茶碗")
    expect(lot_card).to_contain_text("起拍 ¥500")
    expect(b.page.locator(".session-head")).to_contain_text("结束前 10 秒内出价")
    lot_card.locator("a.title").click()
    expect(b.page.locator("#lot-title")).to_have_text("明代青花茶碗")
    expect(b.page.locator("dl.specs")).to_contain_text("明")
    expect(b.page.locator(".carousel img.slide")).to_have_count(3)  # the cover and both detail images
    assert b.page.locator(".carousel img.slide").first.evaluate("img => img.complete && img.naturalWidth > 0")


async def session_titled(admin_api, title: str):
    """A live session and lot whose titles (and a spec) are the given text."""
    auction, _ = await create_session(admin_api, lots=0, preview_in=0, live_in=0.5, end_in=600, title=title)
    status, lot = await admin_api.post(f"/api/admin/auctions/{auction['id']}/lots",
                                       lot_body(title=title, specs=[{"key": "款识", "value": title}]))
    assert status == 201, lot
    await wait_for(lambda: admin_api.get(f"/api/lots/{lot['id']}"), lambda r: r[1]["status"] == "live")
    return auction, lot


def test_markup_in_a_title_shows_as_text(server, tabs):
    auction, lot = run(lambda: session_titled(admin(server), MARKUP))
    token, _ = run(lambda: bidder(api(server), auction["id"]))
    b = tabs(bidder=token)
    op = tabs(operator=server.admin_token)
    for tab, path, selector in ((b, f"/lot.html?id={lot['id']}", "#lot-title"),
                                (b, f"/auction.html?id={auction['id']}", ".lot-card .title"),
                                (b, "/?status=live", f"article[data-id='{auction['id']}'] .title"),
                                (op, f"/admin/auction.html?id={auction['id']}", "tbody .title")):
        tab.goto(path)
        expect(tab.page.locator(selector)).to_have_text(MARKUP)
        assert tab.page.locator("img[src=x]").count() == 0
    b.goto(f"/lot.html?id={lot['id']}")
    expect(b.page.locator("dl.specs")).to_contain_text(MARKUP)
    b.page.click("#bid-now")
    expect(b.page.locator("#bids li.bid")).to_have_count(1)
    assert b.dialogs == [] and op.dialogs == []


def test_the_lot_room_shows_paddles_an_unmet_reserve_and_the_most_a_bid_may_be(server, tabs):
    auction, (lot,) = run(lambda: live_lot(admin(server), lot_extra={"reserve_price": 15000}))
    token_a, token_b = (run(lambda: bidder(api(server), auction["id"]))[0] for _ in range(2))
    a = tabs(bidder=token_a)
    in_room(a, lot["id"])
    expect(a.page.locator("#reserve")).to_have_text("")
    assert run(lambda: api(server, token_b).post(f"/api/lots/{lot['id']}/bids", {"price": 10000}))[0] == 201
    expect(a.page.locator("#bids li.bid .who")).to_have_text(re.compile(r"^\d+号 "))  # the paddle, then the masked name
    expect(a.page.locator("#reserve")).to_have_text("未达保留价")  # the amount itself is never shown
    a.page.fill("#custom-price", "10000")  # ten times the high estimate is the most
    a.page.click("#bid-custom")
    a.page.click("dialog.confirm button.primary")
    expect(a.page.locator("#toasts")).to_contain_text("出价过高：当前最多可出 ¥5,000")
    expect(a.page.locator("#price")).to_have_text("¥100")


def test_the_lot_room_is_usable_on_a_phone(server, tabs):
    auction, (lot,) = run(lambda: live_lot(admin(server)))
    token, _ = run(lambda: bidder(api(server), auction["id"]))
    phone = tabs(bidder=token, phone=True)
    in_room(phone, lot["id"])
    box = phone.page.locator("#bid-now").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["y"] >= 0 and box["y"] + box["height"] <= 844, box
    assert phone.page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(phone.page, "lot-room-phone")
    phone.page.locator("#bid-now").tap()
    shows(phone.page, "#price", "¥100", within=2)
    expect(phone.page.locator("#lead")).to_be_visible()
    phone.page.fill("#proxy-max", "150")
    phone.page.locator("#set-proxy").tap()
    expect(phone.page.locator("#proxy-now")).to_have_text("您的代理出价上限：¥150")
    for path in ("/", f"/auction.html?id={auction['id']}", "/orders.html?tab=to_receive", "/wallet.html", "/deposits.html"):
        phone.goto(path)
        expect(phone.page.locator("#app > :not(noscript)").first).to_be_visible()
        assert phone.page.evaluate("document.documentElement.scrollWidth") <= 390, path


PAGES = ["/", "/login.html", "/auction.html?id={auction}", "/lot.html?id={lot}", "/orders.html?tab=completed",
         "/wallet.html", "/wallet.html?tab=credits", "/deposits.html", "/coupons.html", "/my-coupons.html?tab=used",
         "/offers.html", "/admin/", "/admin/auction.html?id={auction}", "/admin/lot.html?id={lot}",
         "/admin/live.html?id={lot}", "/admin/orders.html", "/admin/deposits.html", "/admin/audit.html?target={lot}",
         "/admin/coupons.html?status=claiming", "/admin/coupon.html", "/admin/coupon.html?id={coupon}",
         "/admin/credits.html?user={user}", "/pay.html?order={order}"]  # last: by then the lot has closed


def test_every_page_is_served_with_the_csp_and_raises_no_violation(server, tabs):
    auction, (lot,) = run(lambda: live_lot(admin(server), end_in=2))
    token, user = run(lambda: bidder(api(server), auction["id"]))
    assert run(lambda: api(server, token).post(f"/api/lots/{lot['id']}/bids", {"price": 10000}))[0] == 201
    coupon = run(lambda: claiming_coupon(admin(server)))
    ids = {"auction": auction["id"], "lot": lot["id"], "coupon": coupon["id"], "user": user["id"]}
    tab = tabs(bidder=token, operator=server.admin_token)
    for path in PAGES:
        if "{order}" in path:
            ids["order"] = run(lambda: wait_for(lambda: api(server, token).get("/api/orders?status=unpaid"),
                                                lambda r: r[1]["unpaid"]["items"]))[1]["unpaid"]["items"][0]["id"]
        response = tab.goto(path.format(**ids))
        headers = response.headers
        assert headers["content-security-policy"] == CSP, path
        assert (headers["x-content-type-options"], headers["referrer-policy"], headers["x-frame-options"]) == \
            ("nosniff", "same-origin", "DENY"), path
        expect(tab.page.locator("#app > :not(noscript)").first).to_be_visible()  # its modules ran
    assert tab.errors == []
    # The policy is enforced, and a violation would have shown among the errors:
    tab.page.evaluate("() => { const s = document.createElement('script'); s.textContent = 'window.inline = 1'; document.body.append(s); }")
    assert tab.page.evaluate("window.inline") is None
    wait_until = time.monotonic() + 2
    while not any("Content Security Policy" in e for e in tab.errors) and time.monotonic() < wait_until:
        tab.page.wait_for_timeout(50)
    assert any("Content Security Policy" in e for e in tab.errors)
    tab.errors.clear()


def test_labels_switch_to_english_and_every_error_code_has_a_message_in_both(server, tabs):
    tab = tabs()
    tab.goto("/login.html")
    expect(tab.page.locator("h1")).to_have_text("手机号登录")
    tab.page.click("button.lang")
    expect(tab.page.locator("h1")).to_have_text("Log in with your phone")
    tab.goto("/")
    expect(tab.page.locator("nav.tabs")).to_contain_text("Live")
    codes = {cls.code for cls in all_subclasses(DomainError)} | {"unsupported_media_type"}
    messages = tab.page.evaluate("async () => (await import('/js/messages.js')).MESSAGES")
    missing = {lang: sorted(c for c in codes if not messages[lang].get(f"err.{c}")) for lang in ("zh", "en")}
    assert missing == {"zh": [], "en": []}


def all_subclasses(cls) -> set:
    return {sub for direct in cls.__subclasses__() for sub in {direct, *all_subclasses(direct)}}


def test_the_demo_shows_a_live_lot_with_bids_within_ten_seconds(server_factory, browser):
    started = time.monotonic()
    demo = server_factory("demo", args=("--demo",))
    log = wait_until_logged(demo, re.compile(r"lot room: (http://\S+)"), within=10 - (time.monotonic() - started))
    tab = open_tab(browser, demo)
    try:
        tab.goto(log.group(1))
        shows(tab.page, "#bids li.bid", "¥", within=10 - (time.monotonic() - started))
        seen_at = time.monotonic() - started
        assert seen_at < 10
        count = tab.page.locator("#bids li.bid").count()
        tab.page.wait_for_function("n => document.querySelectorAll('#bids li.bid').length > n", arg=count, timeout=8000)
        expect(tab.page.locator("#lot-status")).to_have_text("拍卖中")
        expect(tab.page.locator(".carousel img.slide")).to_have_count(3)
        shot(tab.page, "demo")
        tab.goto("/coupons.html")
        expect(tab.page.locator("article.coupon", has_text="演示专场 满减券")).to_contain_text("剩余 50 / 50 张")
        assert tab.errors == []
    finally:
        tab.close()


def wait_until_logged(server, pattern, within: float):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = pattern.search(server.log_text())
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"not logged in {within:.1f}s: {pattern.pattern}\n{server.log_text()}")
