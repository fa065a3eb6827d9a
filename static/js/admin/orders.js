// Every order, newest first, by status.
import { operatorApi as api } from "../client.js";
import { statusText, t } from "../i18n.js";
import { $, badge, clear, dateTime, el, money, param, showError, table } from "../ui.js";
import { operatorPage, userCell } from "./console.js";

await operatorPage();
const STATUSES = ["", "unpaid", "to_receive", "completed", "overdue"];
const rows = el("tbody", { id: "orders" });
const filter = el("select", { id: "status-filter" }, STATUSES.map((s) =>
  el("option", { value: s, text: s ? statusText("order", s) : t("console.all"), selected: s === param("status") })));

async function load() {
  history.replaceState(null, "", filter.value ? `?status=${filter.value}` : location.pathname);
  try {
    const { items } = await api.get(`/api/admin/orders?limit=500${filter.value ? `&status=${filter.value}` : ""}`);
    clear(rows, items.map((o) => el("tr", { dataset: { id: o.id } },
      el("td", { class: "mono", text: o.order_no }),
      el("td", {}, el("a", { href: `/admin/live.html?id=${o.lot_id}`, text: o.title })),
      el("td", { class: "num", text: money(o.price) }), userCell(o.user_id),
      el("td", {}, badge(statusText("order", o.status, o.status_text), o.status)),
      el("td", { text: dateTime(o.deadline) }), el("td", { text: dateTime(o.paid_at) }),
      el("td", { class: "num", text: o.paid_at ? money(o.paid_amount) : "" }),
      el("td", {}, el("a", { href: `/admin/audit.html?target=${o.id}`, text: t("console.audit") })))));
  } catch (error) {
    showError(error);
  }
}

filter.addEventListener("change", load);
clear($("#app"), el("div", { class: "row between" }, el("h1", { text: t("console.orders") }), filter),
  table([t("console.order_no"), t("console.lot_title"), t("console.deal_price"), t("console.user"), t("console.status"),
    t("console.deadline"), t("console.paid_at"), t("console.paid_amount"), ""], rows));
await load();
