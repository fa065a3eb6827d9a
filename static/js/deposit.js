// Whether a deposit is needed to bid, and paying it from the balance.
// (Gateway payment comes with the payments pages, phase 2.)
import { api } from "./client.js";
import { loginUrl } from "./bidder.js";
import { statusText, t } from "./i18n.js";
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
  const pay = (lotId, amount, id, label) => {
    const button = el("button", { type: "button", class: "primary", id, text: t(label, { amount: money(amount) }) });
    button.addEventListener("click", () => action(button, async () => {
      const body = await api.post("/api/deposits", { auction_id: auction.id, lot_id: lotId, pay_type: "balance" });
      toast(t("deposit.paid"), "ok");
      onPaid(body.deposit);
    }));
    return button;
  };
  const waiting = deposit && deposit.status === "unpaid"
    ? el("p", { class: "muted", text: t("deposit.unpaid", { amount: money(deposit.amount) }) }) : null;
  return clear(node,
    el("p", { class: "need", text: t("deposit.need") }),
    waiting,
    el("p", { class: "muted", text: t("deposit.balance", { amount: money(user.balance) }) }),
    el("div", { class: "row wrap" },
      pay(null, auction.deposit, "pay-session-deposit", "deposit.pay_session"),
      lot ? pay(lot.id, lot.deposit, "pay-lot-deposit", "deposit.pay_lot") : null));
}
