// My orders, in the seeds' four tabs (待支付 / 待收货 / 已完成 / 逾期未支付),
// opened on the one asked for (?tab=); receipt is confirmed here.
import { api } from "../client.js";
import { bidderPage } from "../bidder.js";
import { statusText, t } from "../i18n.js";
import { $, action, badge, clear, dateTime, duration, el, image, money, param, showError, tabs, tick, toast } from "../ui.js";

const TABS = ["unpaid", "to_receive", "completed", "overdue"];
await bidderPage({ mustLogin: true });
const app = $("#app");
let current = TABS.includes(param("tab")) ? param("tab") : "unpaid";
let groups = {};
const stopTicks = [];

async function load() {
  try {
    groups = await api.get("/api/orders");
  } catch (error) {
    showError(error);
  }
  render();
}

// What can be done with an order from this list: pay it (on the pay page),
// or confirm its receipt.
function actions(order) {
  if (order.status === "unpaid") {
    const left = el("span", { class: "countdown" });
    stopTicks.push(tick(() => { left.textContent = t("orders.pay_within", { time: duration(Date.parse(order.deadline) - Date.now()) }); }));
    return [left, el("a", { href: `/pay.html?order=${order.id}`, class: "button primary pay",
      text: t(order.payment ? "orders.paying" : "orders.pay") })];
  }
  if (order.status === "to_receive") {
    const button = el("button", { type: "button", class: "primary receive", text: t("orders.receive") });
    button.addEventListener("click", () => action(button, async () => {
      await api.post(`/api/orders/${order.id}/receive`);
      toast(t("orders.received"), "ok");
      await load();
    }));
    return button;
  }
  return null;
}

function item(order) {
  return el("article", { class: "card order", dataset: { id: order.id } },
    image(order.cover, "", "thumb"),
    el("div", { class: "body" },
      el("div", { class: "row between" }, el("a", { href: `/lot.html?id=${order.lot_id}`, class: "title", text: order.title }),
        badge(statusText("order", order.status, order.status_text), order.status)),
      el("p", { class: "muted", text: t("orders.no", { no: order.order_no }) }),
      el("p", {}, t("orders.price"), " ", el("strong", { text: money(order.price) })),
      order.paid_at ? el("p", { class: "muted", text: t("orders.paid", { at: dateTime(order.paid_at), amount: money(order.paid_amount) }) }) : null,
      order.coupon_amount || order.credits_amount ? el("p", { class: "muted", text: t("orders.discount", {
        amount: money(order.coupon_amount || order.credits_amount) }) }) : null,
      el("div", { class: "row end" }, actions(order))));
}

function render() {
  stopTicks.splice(0).forEach((stop) => stop());
  const choose = (tab) => {
    current = tab;
    history.replaceState(null, "", `?tab=${tab}`);
    render();
  };
  const labels = TABS.map((tab) => [tab, `${statusText("order", tab)} ${groups[tab] ? groups[tab].items.length : 0}`]);
  const items = groups[current] ? groups[current].items : [];
  clear(app, el("h1", { text: t("title.orders") }), tabs(labels, current, choose),
    el("div", { class: "list", id: "orders" }, items.length ? items.map(item) : el("p", { class: "empty-note", text: t("orders.none") })));
}

await load();
