// Every deposit, newest first: whose, for what, and what became of it.
import { operatorApi as api } from "../client.js";
import { statusText, t } from "../i18n.js";
import { $, badge, clear, dateTime, el, money, showError, table } from "../ui.js";
import { operatorPage, userCell } from "./console.js";

await operatorPage();
const rows = el("tbody", { id: "deposits" });
try {
  const { items } = await api.get("/api/admin/deposits?limit=500");
  rows.append(...items.map((d) => el("tr", { dataset: { id: d.id } },
    el("td", { class: "mono", text: d.uid }),
    el("td", { text: statusText("deposit_kind", d.kind, d.kind_text) }),
    userCell(d.user_id),
    el("td", {}, el("a", { href: d.lot_id ? `/admin/live.html?id=${d.lot_id}` : `/admin/auction.html?id=${d.auction_id}`,
      text: d.lot_id ? t("deposits.lot") : t("deposits.session") })),
    el("td", { class: "num", text: money(d.amount) }), el("td", { class: "num", text: money(d.remaining) }),
    el("td", {}, badge(statusText("deposit", d.status, d.status_text), d.status)),
    el("td", { text: d.state ? statusText("deposit_state", d.state, d.state_text) : "" }),
    el("td", { text: dateTime(d.paid_at || d.created_at) }),
    el("td", {}, el("a", { href: `/admin/audit.html?target=${d.id}`, text: t("console.audit") })))));
} catch (error) {
  showError(error);
}
clear($("#app"), el("h1", { text: t("console.deposits") }),
  table([t("console.serial"), t("console.kind"), t("console.user"), t("console.for"), t("console.amount"),
    t("console.remaining"), t("console.status"), t("console.money_state"), t("console.time"), ""], rows));
