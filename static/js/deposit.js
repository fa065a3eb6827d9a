// Whether a deposit is needed to bid, and paying it: from the balance at
// once, or through a gateway (its cashier in a new tab; the panel waits for
// the outcome). Asked again while its payment is pending, the server answers
// with the same deposit and payment.
import { api } from "./client.js";
import { loginUrl } from "./bidder.js";
import { statusText, t } from "./i18n.js";
import { GATEWAYS, paymentPanel, payTypeText, settled } from "./payment.js";
import { action, clear, el, money, toast } from "./ui.js";

export function covers(deposit) {
  return Boolean(deposit && deposit.status === "paid" && deposit.state === "held");
}

// The panel for a session (lot omitted) or a lot; `onPaid(deposit)` after a payment.
export function depositPanel(node, { user, auction, lot = null, deposit, onPaid }) {
  if (!user) {
    return clear(node, el("p", {}, el("a", { href: loginUrl(), class: "button primary", id: "login-to-bid",
      text: t("deposit.login") })));
  }
  if (covers(deposit)) {
    return clear(node, el("p", { class: "ok", id: "deposit-held", text: t("deposit.held", {
      kind: statusText("deposit_kind", deposit.kind, deposit.kind_text), amount: money(deposit.amount),
      state: statusText("deposit_state", deposit.state, deposit.state_text) }) }));
  }
  const gateway = el("div", { class: "deposit-payment" });
  let stopPolling = () => {};
  const paid = (body) => {
    toast(t("deposit.paid"), "ok");
    onPaid(body);
  };
  const button = (lotId, payType, id, label) => {
    const b = el("button", { type: "button", class: payType === "balance" ? "primary" : "ghost", id, text: label });
    b.addEventListener("click", () => action(b, async () => {
      const body = await api.post("/api/deposits", { auction_id: auction.id, lot_id: lotId, pay_type: payType });
      if (!body.payment) return paid(body.deposit);
      stopPolling();
      stopPolling = paymentPanel(gateway, body.payment, async (payment) => {
        clear(gateway);
        if (payment.status !== "paid") return toast(t("pay.closed"), "warn");
        const mine = () => api.get("/api/deposits").then(({ items }) => items.find((d) => d.id === payment.deposit_id));
        return paid(await settled(mine, covers));
      });
      return undefined;
    }));
    return b;
  };
  const choice = (lotId, amount, id, label) => el("div", { class: "deposit-choice" },
    el("p", { text: t(label, { amount: money(amount) }) }),
    el("div", { class: "row wrap" }, button(lotId, "balance", id, t("deposit.by_balance")),
      GATEWAYS.map((p) => button(lotId, p, `${id}-${p}`, payTypeText(p)))));
  const waiting = deposit && deposit.status === "unpaid"
    ? el("p", { class: "muted", text: t("deposit.unpaid", { amount: money(deposit.amount) }) }) : null;
  return clear(node,
    el("p", { class: "need", text: t("deposit.need") }),
    waiting,
    el("p", { class: "muted", text: t("deposit.balance", { amount: money(user.balance) }) }),
    choice(null, auction.deposit, "pay-session-deposit", "deposit.session"),
    lot ? choice(lot.id, lot.deposit, "pay-lot-deposit", "deposit.lot") : null,
    gateway);
}
