// 我的优惠券, in the seeds' three tabs (未使用 / 已使用 / 已过期), opened on
// the one asked for (?tab=). A coupon held by a payment under way shows
// among the unused with its own status (锁定中).
import { api } from "../client.js";
import { bidderPage } from "../bidder.js";
import { couponCard, expiry } from "../coupon.js";
import { statusText, t } from "../i18n.js";
import { $, badge, clear, dateTime, el, param, showError, tabs } from "../ui.js";

const TABS = ["unused", "used", "expired"];
await bidderPage({ mustLogin: true });
const app = $("#app");
let current = TABS.includes(param("tab")) ? param("tab") : "unused";
let groups = {};
try {
  groups = await api.get("/api/my/coupons");
} catch (error) {
  showError(error);
}

function item(uc) {
  const used = uc.used_at ? t("mycoupons.used_at", { at: dateTime(uc.used_at) }) : "";
  return couponCard(uc, { cls: uc.status, lines: [expiry(uc), used],
    side: badge(statusText("user_coupon", uc.status, uc.status_text), uc.status) });
}

function render() {
  const choose = (tab) => {
    current = tab;
    history.replaceState(null, "", `?tab=${tab}`);
    render();
  };
  const labels = TABS.map((tab) => [tab, `${statusText("user_coupon", tab)} ${groups[tab] ? groups[tab].items.length : 0}`]);
  const items = groups[current] ? groups[current].items : [];
  clear(app,
    el("div", { class: "row between" }, el("h1", { text: t("title.my_coupons") }),
      el("a", { href: "/coupons.html", text: t("mycoupons.centre") })),
    tabs(labels, current, choose),
    el("div", { class: "list", id: "my-coupons" },
      items.length ? items.map(item) : el("p", { class: "empty-note", text: t("mycoupons.none") })));
}

render();
