// My balance and its ledger, newest first, a page at a time.
import { api } from "../client.js";
import { bidderPage } from "../bidder.js";
import { statusText, t } from "../i18n.js";
import { $, action, clear, dateTime, el, money, showError, table } from "../ui.js";

const PAGE = 50;
await bidderPage({ mustLogin: true });
const rows = el("tbody");
const balance = el("strong", { id: "balance", class: "big-price" });
const more = el("button", { type: "button", class: "ghost", text: t("common.more"), hidden: true });

function line(entry) {
  return el("tr", {},
    el("td", { text: dateTime(entry.created_at, true) }),
    el("td", { text: statusText("ledger", entry.kind) }),
    el("td", { class: entry.amount < 0 ? "num out" : "num in", text: (entry.amount > 0 ? "+" : "") + money(entry.amount) }),
    el("td", { class: "num", text: money(entry.balance_after) }),
    el("td", { class: "muted", text: entry.ref }));
}

async function page(before = 0) {
  const body = await api.get(`/api/wallet/ledger?limit=${PAGE}${before ? `&before_seq=${before}` : ""}`);
  if (!before) balance.textContent = money(body.balance);
  rows.append(...body.items.map(line));
  const last = body.items[body.items.length - 1];
  more.hidden = body.items.length < PAGE;
  more.onclick = () => action(more, () => page(last.seq));
}

const ledger = table([t("wallet.time"), t("wallet.kind"), t("wallet.amount"), t("wallet.after"), t("wallet.ref")], rows);
clear($("#app"), el("h1", { text: t("title.wallet") }),
  el("section", { class: "card" }, el("p", { class: "muted", text: t("wallet.balance") }), balance),
  el("section", { class: "card" }, el("h2", { text: t("wallet.ledger") }), ledger, more));
await page().catch(showError);
