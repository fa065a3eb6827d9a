// My deposits: what each is for, what became of it, refunds and deductions.
import { api } from "../client.js";
import { bidderPage } from "../bidder.js";
import { statusText, t } from "../i18n.js";
import { $, badge, clear, dateTime, el, money, showError } from "../ui.js";

await bidderPage({ mustLogin: true });
const app = $("#app");
let items = [];
let titles = new Map();
try {
  const [mine, sessions] = await Promise.all([api.get("/api/deposits"), api.get("/api/auctions")]);
  items = mine.items;
  titles = new Map(sessions.items.map((a) => [a.id, a.title]));
} catch (error) {
  showError(error);
}

function history(deposit) {
  return [
    ...deposit.refunds.map((r) => el("li", { text: t("deposits.refund", { amount: money(r.amount),
      status: statusText("refund", r.status, r.status_text), at: dateTime(r.created_at) }) })),
    ...deposit.deductions.map((d) => el("li", { text: t("deposits.deduction", { amount: money(d.amount),
      kind: statusText("deduction", d.kind, d.kind_text), at: dateTime(d.created_at) }) })),
  ];
}

function item(deposit) {
  const target = deposit.lot_id
    ? el("a", { href: `/lot.html?id=${deposit.lot_id}`, text: t("deposits.lot") })
    : el("a", { href: `/auction.html?id=${deposit.auction_id}`, text: t("deposits.session") });
  return el("article", { class: "card deposit-item", dataset: { id: deposit.id } },
    el("div", { class: "row between" },
      el("strong", { text: statusText("deposit_kind", deposit.kind, deposit.kind_text) }),
      badge(deposit.state ? statusText("deposit_state", deposit.state, deposit.state_text)
        : statusText("deposit", deposit.status, deposit.status_text), deposit.state || deposit.status)),
    el("p", {}, el("span", { text: titles.get(deposit.auction_id) || "" }), " · ", target),
    el("p", { text: t("deposits.amount", { amount: money(deposit.amount), remaining: money(deposit.remaining) }) }),
    el("p", { class: "muted", text: t("deposits.serial", { uid: deposit.uid, at: dateTime(deposit.paid_at || deposit.created_at) }) }),
    el("ul", { class: "history" }, history(deposit)));
}

clear(app, el("h1", { text: t("title.deposits") }),
  el("div", { class: "list", id: "deposits" }, items.length ? items.map(item) : el("p", { class: "empty-note", text: t("deposits.none") })));
