// My balance with a top-up through a gateway, my credits (积分), and the
// ledger of each (资金明细 / 积分明细, ?tab=), newest first.
import { api } from "../client.js";
import { bidderPage } from "../bidder.js";
import { statusText, t } from "../i18n.js";
import { GATEWAYS, paymentPanel, payTypeText } from "../payment.js";
import { $, action, cents, clear, dateTime, el, money, param, showError, table, tabs, toast } from "../ui.js";

const PAGE = 50;
await bidderPage({ mustLogin: true });
const balance = el("strong", { id: "balance", class: "big-price" });
const credits = el("strong", { id: "credits", class: "big-price" });
const ledger = el("div", { id: "ledger" });
let current = param("tab") === "credits" ? "credits" : "money";

const signed = (amount, text) => el("td", { class: amount < 0 ? "num out" : "num in", text: (amount > 0 ? "+" : "") + text });

function moneyLine(entry) {
  return el("tr", {},
    el("td", { text: dateTime(entry.created_at, true) }),
    el("td", { text: statusText("ledger", entry.kind) }),
    signed(entry.amount, money(entry.amount)),
    el("td", { class: "num", text: money(entry.balance_after) }),
    el("td", { class: "muted", text: entry.ref }));
}

function creditLine(entry) {
  return el("tr", {},
    el("td", { text: dateTime(entry.created_at, true) }),
    el("td", { text: statusText("credit", entry.kind, entry.kind_text) }),
    signed(entry.amount, String(entry.amount)),
    el("td", { class: "num", text: String(entry.credits_after) }),
    el("td", { class: "muted", text: entry.ref }));
}

const COLUMNS = ["wallet.time", "wallet.kind", "wallet.amount", "wallet.after", "wallet.ref"];

function showPage(rows, more, page) {
  rows.append(...page.items.map(moneyLine));
  const last = page.items[page.items.length - 1];
  more.hidden = page.items.length < PAGE;
  more.onclick = () => action(more, async () =>
    showPage(rows, more, await api.get(`/api/wallet/ledger?limit=${PAGE}&before_seq=${last.seq}`)));
}

async function load() {
  const [book, mine] = await Promise.all([api.get(`/api/wallet/ledger?limit=${PAGE}`), api.get("/api/wallet/credits?limit=200")]);
  balance.textContent = money(book.balance);
  credits.textContent = String(mine.credits);
  const rows = el("tbody");
  if (current === "credits") {
    rows.append(...mine.lines.map(creditLine));
    return clear(ledger, table(COLUMNS.map((key) => t(key)), rows));
  }
  const more = el("button", { type: "button", class: "ghost", text: t("common.more"), hidden: true });
  clear(ledger, table(COLUMNS.map((key) => t(key)), rows), more);
  return showPage(rows, more, book);
}

// Top-up: an amount, a gateway, its cashier; the balance is read again once paid.
const amount = el("input", { id: "topup-amount", inputmode: "decimal", placeholder: t("wallet.topup_placeholder") });
const gateway = el("select", { id: "topup-type", "aria-label": t("pay.how") },
  GATEWAYS.map((p) => el("option", { value: p, text: payTypeText(p) })));
const topup = el("button", { type: "button", id: "topup", class: "primary", text: t("wallet.topup") });
const pending = el("div", { id: "payment" });
let stopPolling = () => {};
topup.addEventListener("click", () => action(topup, async () => {
  const value = cents(amount.value);
  if (!(value > 0)) return toast(t("lot.bad_amount"), "error");
  const { payment } = await api.post("/api/wallet/topup", { amount: value, pay_type: gateway.value });
  stopPolling();
  stopPolling = paymentPanel(pending, payment, async (done) => {
    clear(pending);
    if (done.status === "paid") amount.value = "";  // (a closed one may be tried again as it was)
    toast(t(done.status === "paid" ? "wallet.topped_up" : "pay.closed"), done.status === "paid" ? "ok" : "warn");
    await load().catch(showError);
  });
  return undefined;
}));

function render() {
  const choose = (tab) => {
    current = tab;
    history.replaceState(null, "", `?tab=${tab}`);
    render();
    load().catch(showError);
  };
  clear($("#app"), el("h1", { text: t("title.wallet") }),
    el("div", { class: "cols" },
      el("section", { class: "card" }, el("p", { class: "muted", text: t("wallet.balance") }), balance,
        el("div", { class: "row wrap topup" }, amount, gateway, topup), pending),
      el("section", { class: "card" }, el("p", { class: "muted", text: t("wallet.credits") }), credits,
        el("p", { class: "muted", text: t("wallet.credits_note") }))),
    el("section", { class: "card" }, tabs([["money", t("wallet.ledger")], ["credits", t("wallet.credit_ledger")]], current, choose),
      ledger));
}

render();
await load().catch(showError);
