"""The money's pages in a real browser (headless Chromium): the winner pays
from the pay page with a coupon through the sandbox gateway; a coupon made
in the console is claimed in the claim centre while another bidder watches
the count go down; the pay page on a phone with credits the console granted;
a top-up and a deposit through the gateway; a second-chance offer reaching
the runner-up live and accepted from the page.

Every tab a test opens is checked at the end for console errors (a CSP
violation is one) and uncaught exceptions."""
import re

import pytest
from playwright.sync_api import expect

from browser import admin, api, browser, in_room, png, run, shot, tabs  # noqa: F401 (fixtures)
from helpers import bidder, claiming_coupon, coupon_body, live_lot, next_phone, wait_for
from server.demo import Client, bowl

PHONE_WIDTH = 390


@pytest.fixture(scope="module")
def quick(server_factory):
    """A server whose winners have 2 seconds to pay, for second-chance offers."""
    return server_factory("pages_offers", ORDER_PAY_SECONDS=2, OFFER_ACCEPT_SECONDS=600)


def won(server, price=10000, **lot_extra):
    """A buyer (with a lot deposit of ¥50) whose bid won a lot (with a picture) that closed a moment ago: (token, lot, order)."""
    async def steps():
        cover = await Client(server.url, server.admin_token).upload(bowl((60, 38, 28), (214, 196, 170), 1))
        auction, (lot,) = await live_lot(admin(server), end_in=2.5, lot_extra={"cover": cover, **lot_extra})
        token, _ = await bidder(api(server), auction["id"], lot["id"])
        buyer = api(server, token)
        assert (await buyer.post(f"/api/lots/{lot['id']}/bids", {"price": price}))[0] == 201
        _, groups = await wait_for(lambda: buyer.get("/api/orders?status=unpaid"), lambda r: r[1]["unpaid"]["items"])
        return token, lot, groups["unpaid"]["items"][0]
    return run(steps)


def fill_address(page):
    for field, value in (("name", "李四"), ("phone", "13900139000"), ("province", "浙江"), ("city", "杭州"),
                         ("county", "西湖区"), ("detail", "龙井路 8 号")):
        page.fill(f"#addr-{field}", value)
    page.click("#save-address")
    expect(page.locator("#addresses .option.on")).to_contain_text("李四 13900139000")


def approve_in_cashier(page, opener: str, decision: str = "approve"):
    """Open the gateway's cashier (a new tab) from `opener` and decide there;
    approving sends the server a signed notification."""
    with page.expect_popup() as popup:
        page.click(opener)
    cashier = popup.value
    expect(cashier.locator("h1")).to_have_text("沙箱收银台")
    cashier.click(f"button[value={decision}]")
    outcome = re.compile("已支付|支付成功" if decision == "approve" else "已关闭")  # WeChat's cashier says so; Alipay returns
    expect(cashier.locator("body")).to_contain_text(outcome)
    return cashier


def no_sideways_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_WIDTH, page.url


def test_the_winner_pays_with_a_coupon_through_the_sandbox_gateway_and_the_order_moves_to_to_receive(server, tabs):
    coupon = run(lambda: claiming_coupon(admin(server), title="新人立减二十"))
    token, lot, order = won(server)
    a = tabs(bidder=token)
    a.goto("/coupons.html")
    card = a.page.locator(f"article.coupon[data-id='{coupon['id']}']")
    card.locator("button.claim").click()
    expect(card.locator("button.claim")).to_have_text("已领取")
    expect(card.locator("button.claim")).to_be_disabled()

    a.goto("/orders.html?tab=unpaid")
    a.page.locator(f"article.order[data-id='{order['id']}'] a.pay").click()
    expect(a.page.locator("#pay-title")).to_have_text(lot["title"])
    expect(a.page.locator("#address-form")).to_be_visible()  # no address yet: the form is open
    fill_address(a.page)
    expect(a.page.locator("[data-line=deposit] dd")).to_have_text("−¥50")
    expect(a.page.locator("#to-pay")).to_have_text("¥50")
    a.page.locator("#discounts .option", has_text="新人立减二十").click()
    expect(a.page.locator("#discounts .option.on")).to_contain_text("抵扣 ¥20")
    expect(a.page.locator("[data-line=coupon] dd")).to_have_text("−¥20")
    expect(a.page.locator("[data-line=to_pay] dd")).to_have_text("¥30")
    a.page.locator("#pay-types .option", has_text="支付宝").click()
    expect(a.page.locator("#pay")).to_have_text("确认支付 ¥30（支付宝）")
    a.page.evaluate("window.scrollTo(0, 0)")
    expect(a.page.locator("#toasts .toast")).to_have_count(0)  # ("address saved" goes in a moment)
    shot(a.page, "pay", full_page=True)

    a.page.click("#pay")
    expect(a.page.locator("#open-gateway")).to_contain_text("¥30")
    cashier = approve_in_cashier(a.page, "#open-gateway")
    expect(cashier.locator("h1")).to_have_text("支付成功")  # Alipay's return page, signed
    cashier.close()
    expect(a.page.locator("#result h2")).to_have_text("支付成功", timeout=10000)
    expect(a.page.locator("#result .badge")).to_have_text("待收货")
    expect(a.page.locator("[data-line=to_pay] dd")).to_have_text("¥30")
    expect(a.page.locator("[data-line=coupon] dd")).to_have_text("−¥20")
    shot(a.page, "pay-paid", full_page=True)

    a.page.click("#to-orders")
    expect(a.page.locator("[role=tab][aria-selected=true]")).to_have_attribute("data-tab", "to_receive")
    paid = a.page.locator(f"article.order[data-id='{order['id']}']")
    expect(paid).to_contain_text("待收货")
    expect(paid).to_contain_text("优惠 ¥20")
    a.goto("/my-coupons.html?tab=used")
    expect(a.page.locator("#my-coupons article.coupon", has_text="新人立减二十")).to_contain_text("已使用")


def test_a_coupon_made_in_the_console_is_claimed_in_the_claim_centre_and_the_count_goes_down_live(server, tabs):
    tokens = [run(lambda: api(server).login(next_phone()))[0] for _ in range(2)]
    a, b = tabs(bidder=tokens[0]), tabs(bidder=tokens[1])
    a.goto("/coupons.html")
    expect(a.page.locator("#coupons")).to_be_visible()
    a.page.evaluate("window.sameDocument = true")

    op = tabs(operator=server.admin_token)
    op.goto("/admin/coupons.html")
    op.page.click("#new-coupon")
    op.page.fill("#f-title", "茶友专享券")
    op.page.set_input_files("#f-cover", files=[png(4)])
    expect(op.page.locator("[data-picker=cover] img")).to_have_count(1)
    op.page.select_option("#f-kind", "threshold")
    expect(op.page.locator("#f-min_spend")).to_be_visible()
    op.page.fill("#f-value", "15")
    op.page.fill("#f-min_spend", "80")
    op.page.fill("#f-count", "3")
    op.page.fill("#f-valid_days", "10")
    op.page.click("#save-coupon")
    op.page.wait_for_url("**/admin/coupons.html")
    row = op.page.locator("#coupons tr", has_text="茶友专享券")
    expect(row).to_contain_text("满 ¥80 减 ¥15")
    expect(row).to_contain_text("领取后 10 天内有效")
    shot(op.page, "console-coupons", full_page=True)

    card = a.page.locator("article.coupon", has_text="茶友专享券")  # it opened: the page learnt of it live
    expect(card).to_contain_text("剩余 3 / 3 张")
    expect(card.locator("button.claim")).to_be_enabled()
    b.goto("/coupons.html")
    b.page.locator("article.coupon", has_text="茶友专享券").locator("button.claim").click()
    expect(b.page.locator("article.coupon", has_text="茶友专享券")).to_contain_text("剩余 2 / 3 张")
    expect(card).to_contain_text("剩余 2 / 3 张")
    card.locator("button.claim").click()
    expect(card.locator("button.claim")).to_have_text("已领取")
    expect(b.page.locator("article.coupon", has_text="茶友专享券")).to_contain_text("剩余 1 / 3 张")
    assert a.page.evaluate("window.sameDocument") is True
    shot(a.page, "claim-centre")
    a.goto("/my-coupons.html")
    expect(a.page.locator("#my-coupons article.coupon", has_text="茶友专享券")).to_contain_text("满 ¥80 减 ¥15")

    op.page.select_option("#scope-filter", "lot")
    expect(op.page.locator("#coupons tr", has_text="茶友专享券")).to_have_count(0)
    op.page.select_option("#scope-filter", "general")
    expect(op.page.locator("#coupons tr", has_text="茶友专享券")).to_contain_text("2 / 3（剩 1）")


def test_the_pay_page_on_a_phone_spends_credits_the_console_granted(server, tabs):
    token, lot, order = won(server, max_credit=200)
    user = run(lambda: api(server, token).get("/api/me"))[1]
    op = tabs(operator=server.admin_token)
    op.goto(f"/admin/credits.html?user={user['id']}")
    op.page.fill("#f-amount", "300")
    op.page.fill("#f-reason", "老客户回馈")
    op.page.click("#save-credits")
    expect(op.page.locator("#credit-lines tr")).to_contain_text("+300")
    op.page.select_option("#f-direction", "-1")
    op.page.fill("#f-amount", "50")
    op.page.fill("#f-reason", "多发了")
    op.page.click("#save-credits")
    expect(op.page.locator("#credit-lines tr").first).to_contain_text("250")

    phone = tabs(bidder=token, phone=True)
    phone.goto(f"/pay.html?order={order['id']}")
    expect(phone.page.locator("#pay-title")).to_have_text(lot["title"])
    no_sideways_scroll(phone.page)
    fill_address(phone.page)
    credits = phone.page.locator("#discounts .option[data-value=credits]")
    expect(credits).to_contain_text("使用 200 积分（共 250 积分）")  # the lot takes at most 200
    credits.tap()
    expect(phone.page.locator("[data-line=credits] dd")).to_have_text("−¥20")
    expect(phone.page.locator("#to-pay")).to_have_text("¥30")
    no_sideways_scroll(phone.page)
    box = phone.page.locator("#pay").bounding_box()
    assert 0 <= box["x"] and box["x"] + box["width"] <= PHONE_WIDTH and 0 <= box["y"] and box["y"] + box["height"] <= 844, box
    shot(phone.page, "pay-phone")
    phone.page.locator("#pay").tap()  # from the balance, the first choice
    expect(phone.page.locator("#result .badge")).to_have_text("待收货")
    no_sideways_scroll(phone.page)

    phone.goto("/wallet.html?tab=credits")
    expect(phone.page.locator("#credits")).to_have_text("50")
    expect(phone.page.locator("#ledger tbody tr").first).to_contain_text("-200")
    for path in ("/wallet.html", "/coupons.html", "/my-coupons.html", "/offers.html", "/orders.html?tab=to_receive"):
        phone.goto(path)
        expect(phone.page.locator("#app > :not(noscript)").first).to_be_visible()
        no_sideways_scroll(phone.page)


def test_a_top_up_and_a_deposit_are_paid_through_the_sandbox_gateway(server, tabs):
    auction, (lot,) = run(lambda: live_lot(admin(server)))
    token, _ = run(lambda: api(server).login(next_phone()))
    a = tabs(bidder=token)
    a.goto("/wallet.html")
    expect(a.page.locator("#balance")).to_have_text("¥1,000")
    a.page.fill("#topup-amount", "250")
    a.page.select_option("#topup-type", "wechat")
    a.page.click("#topup")
    approve_in_cashier(a.page, "#open-gateway", "decline").close()
    expect(a.page.locator("#toasts")).to_contain_text("支付未完成")
    expect(a.page.locator("#open-gateway")).to_have_count(0)
    expect(a.page.locator("#balance")).to_have_text("¥1,000")
    a.page.click("#topup")
    approve_in_cashier(a.page, "#open-gateway").close()
    expect(a.page.locator("#balance")).to_have_text("¥1,250", timeout=10000)
    expect(a.page.locator("#ledger tbody tr").first).to_contain_text("充值")

    in_room(a, lot["id"])
    expect(a.page.locator("#bid-now")).to_have_text("缴纳保证金后出价")
    a.page.click("#pay-lot-deposit-alipay")
    approve_in_cashier(a.page, "#open-gateway").close()
    expect(a.page.locator("#deposit-held")).to_contain_text("单品保证金 ¥50", timeout=10000)
    expect(a.page.locator("#bid-now")).to_have_text("出价 ¥100")
    a.page.click("#bid-now")
    expect(a.page.locator("#lead")).to_be_visible()


def test_a_second_chance_offer_reaches_the_runner_up_live_and_accepting_it_makes_an_order(quick, tabs):
    auction, (lot,) = run(lambda: live_lot(admin(quick), end_in=2.5))
    runner_up, _ = run(lambda: bidder(api(quick), auction["id"], lot["id"]))
    winner, _ = run(lambda: bidder(api(quick), auction["id"], lot["id"]))
    for token, price in ((runner_up, 10000), (winner, 11000)):
        assert run(lambda: api(quick, token).post(f"/api/lots/{lot['id']}/bids", {"price": price}))[0] == 201
    b = tabs(on=quick, bidder=runner_up)
    in_room(b, lot["id"])
    op = tabs(on=quick, operator=quick.admin_token)
    op.goto(f"/admin/live.html?id={lot['id']}")
    expect(op.page.locator("#lot-status")).to_have_text("逾期未支付", timeout=10000)  # the winner did not pay

    op.page.click("#control-second-chance")
    expect(op.page.locator("#offer")).to_contain_text("待确认")
    expect(op.page.locator("#offer")).to_contain_text("¥100")
    expect(op.page.locator("#audit")).to_contain_text("second_chance")
    notice = b.page.locator("#offer-notices li")
    expect(notice).to_contain_text("以 ¥100 转给您")  # live, on the page the runner-up had open
    notice.locator("a").click()

    offer = b.page.locator("#offers article.offer", has_text=lot["title"])
    expect(offer).to_contain_text("待确认")
    expect(offer.locator(".countdown")).to_contain_text("剩余")
    offer.locator("button.accept").click()
    b.page.wait_for_url("**/pay.html?order=*")
    expect(b.page.locator("#pay-title")).to_have_text(lot["title"])
    expect(b.page.locator("[data-line=price] dd")).to_have_text("¥100")
    b.goto("/orders.html?tab=unpaid")
    expect(b.page.locator("article.order", has_text=lot["title"])).to_contain_text("¥100")
    b.goto("/offers.html")
    expect(b.page.locator("#offers article.offer", has_text=lot["title"])).to_contain_text("已接受")


def test_an_operator_edits_a_coupon_before_it_opens_and_deletes_it(server, tabs):
    status, coupon = run(lambda: admin(server).post("/api/admin/coupons", coupon_body(start_in=3600, stop_in=7200,
                                                                                      title="中秋券")))
    assert status == 201, coupon
    op = tabs(operator=server.admin_token)
    op.goto("/admin/coupons.html?status=pending")
    op.page.locator("#coupons tr", has_text="中秋券").locator("a.title").click()
    expect(op.page.locator("#f-title")).to_have_value("中秋券")
    op.page.fill("#f-title", "中秋特惠券")
    op.page.select_option("#f-use_mode", "window")
    op.page.fill("#f-use_start", "2099-01-01T10:00")
    op.page.fill("#f-use_end", "2099-02-01T10:00")
    op.page.click("#save-coupon")
    op.page.wait_for_url("**/admin/coupons.html")
    row = op.page.locator("#coupons tr", has_text="中秋特惠券")
    expect(row).to_contain_text("2099-01-01 10:00 – 2099-02-01 10:00")
    expect(row).to_contain_text("未开始")
    row.locator("button.danger").click()
    op.page.click("dialog.confirm button.primary")
    expect(op.page.locator("#coupons tr", has_text="中秋特惠券")).to_have_count(0)
