// A gateway payment under way (a deposit, an order, a top-up): where to pay
// it — the gateway's cashier, opened in a new tab, so this page stays to
// show the outcome — and its state, asked of the server (the active query,
// which asks the gateway) until it is paid or closed.
import { api } from "./client.js";
import { statusText, t } from "./i18n.js";
import { clear, duration, el, money, tick } from "./ui.js";

// The gateways a page offers besides the balance. (The API names the ones in
// use only at checkout, `pay_types`; elsewhere a missing one answers conflict.)
export const GATEWAYS = ["wechat", "alipay"];
const POLL_MS = 1500;

export function payTypeText(payType) {
  return t(`pay.type.${payType}`);
}

// What a paid payment entails (the order paid, the deposit held) is applied
// just after it moves: read `fetch()` again until `done(value)`, a few seconds at most.
export async function settled(fetch, done, tries = 20) {
  let value = await fetch();
  for (let i = 1; i < tries && !done(value); i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    value = await fetch();
  }
  return value;
}

// Fills `node` with the payment and polls it; `onDone(payment)` once it is
// no longer pending. Returns a function that stops the polling.
export function paymentPanel(node, payment, onDone) {
  let stopped = false;
  let timer = 0;
  const state = el("p", { class: "muted", id: "payment-state" });
  const left = el("span", { class: "countdown" });
  const stopTick = tick(() => {
    left.textContent = t("pay.expires_in", { time: duration(Date.parse(payment.expires_at) - Date.now()) });
  });
  const how = payment.pay_url
    ? el("a", { href: payment.pay_url, target: "_blank", rel: "noopener", class: "button primary wide", id: "open-gateway",
      text: t("pay.open_gateway", { gateway: payTypeText(payment.pay_type), amount: money(payment.amount) }) })
    : el("p", {}, t("pay.scan"), el("br"), el("span", { class: "mono", id: "code-url", text: payment.code_url || "" }));
  clear(node, el("div", { class: "payment", dataset: { trade: payment.out_trade_no } },
    el("p", { text: t("pay.waiting_gateway", { gateway: payTypeText(payment.pay_type), amount: money(payment.amount) }) }),
    how, el("p", { class: "row between" }, state, left),
    el("p", { class: "muted mono", text: t("pay.trade_no", { no: payment.out_trade_no }) })));

  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    stopTick();
    window.removeEventListener("focus", check);
  };
  async function check() {
    if (stopped) return;
    clearTimeout(timer);
    try {
      payment = await api.get(`/api/payments/${encodeURIComponent(payment.out_trade_no)}`);
      state.textContent = statusText("payment", payment.status, payment.status_text);
    } catch (error) {
      state.textContent = t("pay.query_failed");
    }
    if (stopped) return;
    if (payment.status === "pending") timer = setTimeout(check, POLL_MS);
    else {
      stop();
      onDone(payment);
    }
  }
  state.textContent = t("pay.waiting");
  window.addEventListener("focus", check);  // back from the cashier's tab: ask at once
  timer = setTimeout(check, POLL_MS);
  return stop;
}
