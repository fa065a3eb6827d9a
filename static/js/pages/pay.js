// The pay page (?order=): the address, one discount — a coupon or credits,
// each with what it takes off — the breakdown, and paying from the balance
// or through a gateway (its cashier in a new tab; this page asks for the
// outcome until there is one), then the result.
import { api } from "../client.js";
import { bidderPage } from "../bidder.js";
import { addressLine, addressPicker } from "../addresses.js";
import { worth } from "../coupon.js";
import { statusText, t } from "../i18n.js";
import { paymentPanel, payTypeText, settled } from "../payment.js";
import { $, action, badge, clear, duration, el, halt, image, money, param, showError, tick, toast } from "../ui.js";

await bidderPage({ mustLogin: true });
const orderId = param("order");
let view;
try {
  view = await api.get(`/api/orders/${orderId}/checkout`);
} catch (error) {
  await halt(error);
}
const order = view.order;
document.title = `${t("title.pay")} · ${order.title}`;
let discount = "";  // "", "credits" or a user coupon's id

// What the server will work out (domain/checkout.py `breakdown`): the
// discount first, then the deposit, the rest from the balance or a gateway.
function planned() {
  const coupon = view.coupons.find((c) => c.id === discount);
  const credits = discount === "credits" ? view.credits.most_usable : 0;
  const off = Math.min(view.price, coupon ? coupon.value : credits * 100 / view.credits.credit_to_money);
  const due = view.price - off;
  const used = Math.min(due, view.deposit_remaining);
  const keep = Boolean(view.deposit && view.deposit.keeps_rest);
  return { price: view.price, coupon: coupon ? off : 0, credits, credits_amount: coupon ? 0 : off, deposit_used: used,
    deposit_refund: keep ? 0 : view.deposit_remaining - used, to_pay: due - used };
}

const node = { breakdown: el("dl", { class: "specs breakdown", id: "breakdown" }), toPay: el("strong", { id: "to-pay", class: "big-price" }),
  payTypes: el("div", { class: "options", id: "pay-types", role: "radiogroup" }), payment: el("div", { id: "payment" }),
  pay: el("button", { type: "button", id: "pay", class: "primary big" }), form: el("div", { id: "pay-form" }) };

const line = (label, amount, id, sign = "") => el("div", { class: "spec", dataset: { line: id } },
  el("dt", { text: label }), el("dd", { class: "num", text: `${sign}${money(amount)}` }));

function showBreakdown(bd, last = "pay.to_pay") {
  clear(node.breakdown,
    line(t("pay.price"), bd.price, "price"),
    bd.coupon ? line(t("pay.coupon_off"), bd.coupon, "coupon", "−") : null,
    bd.credits_amount ? line(t("pay.credits_off", { credits: bd.credits }), bd.credits_amount, "credits", "−") : null,
    bd.deposit_used ? line(t("pay.deposit_used"), bd.deposit_used, "deposit", "−") : null,
    line(t(last), bd.to_pay, "to_pay"));
  const refund = view.deposit_remaining - bd.deposit_used;
  return refund > 0 ? el("p", { class: "muted", id: "deposit-rest", text: t(bd.deposit_refund ? "pay.deposit_back" : "pay.deposit_kept",
    { amount: money(refund) }) }) : null;
}

// A radio option: label, what it costs or takes off, and whether it may be chosen.
function option(group, value, checked, text, note, onPick, disabled = false) {
  return el("label", { class: `option${checked ? " on" : ""}${disabled ? " off" : ""}`, dataset: { value } },
    el("input", { type: "radio", name: group, value, checked, disabled, on: { change: onPick } }),
    el("span", { class: "body" }, el("strong", { text }), note ? el("span", { class: "muted block", text: note }) : null));
}

const discounts = el("div", { class: "options", id: "discounts", role: "radiogroup" });
const rest = el("div");
function renderDiscounts() {
  const pick = (value) => () => { discount = value; render(); };
  const { held, most_usable: usable, credit_to_money: rate } = view.credits;
  clear(discounts,
    option("discount", "", discount === "", t("pay.no_discount"), "", pick("")),
    view.coupons.map((c) => option("discount", c.id, discount === c.id, `${c.title} · ${worth(c)}`,
      t("pay.takes_off", { amount: money(c.value) }), pick(c.id))),
    option("discount", "credits", discount === "credits", t(usable ? "pay.use_credits" : "pay.credits_held", { credits: usable, held }),
      usable ? t("pay.takes_off", { amount: money(usable * 100 / rate) }) : t("pay.no_credits"), pick("credits"), !usable));
}

let payType = "";
function renderPayTypes(toPay) {
  const enough = view.balance >= toPay;
  const allowed = view.pay_types.filter((p) => p !== "balance" || enough);
  if (!allowed.includes(payType)) payType = allowed[0] || "balance";
  clear(node.payTypes, view.pay_types.map((p) => option("pay_type", p, p === payType, payTypeText(p),
    p === "balance" ? t(enough ? "pay.balance" : "pay.balance_short", { amount: money(view.balance) }) : t("pay.gateway_note"),
    () => { payType = p; render(); }, p === "balance" && !enough)));
}

function render() {
  const bd = planned();
  renderDiscounts();
  clear(rest, showBreakdown(bd));
  node.toPay.textContent = money(bd.to_pay);
  node.payTypes.parentElement.hidden = bd.to_pay === 0;
  renderPayTypes(bd.to_pay);
  node.pay.textContent = bd.to_pay ? t("pay.pay", { amount: money(bd.to_pay), how: payTypeText(payType) }) : t("pay.pay_nothing");
}

function showResult(paid) {
  const bd = { price: paid.price, coupon: paid.coupon_amount, credits: paid.credits_used, credits_amount: paid.credits_amount,
    deposit_used: paid.deposit_used, to_pay: paid.paid_amount };
  clear(node.payment);
  stopDeadline();
  deadline.textContent = "";
  node.form.hidden = false;
  clear(node.form, el("section", { class: "card result", id: "result" },
    el("div", { class: "row between" }, el("h2", { text: t("pay.done") }), badge(statusText("order", paid.status, paid.status_text), paid.status)),
    node.breakdown, paid.address ? el("p", { class: "muted", text: `${paid.address.name} ${paid.address.phone} · ${addressLine(paid.address)}` }) : null,
    el("p", { class: "muted", text: t("pay.paid_by", { how: payTypeText(paid.pay_type) }) }),
    el("a", { href: `/orders.html?tab=${paid.status}`, id: "to-orders", class: "button primary wide", text: t("pay.to_orders") })));
  showBreakdown(bd, "pay.paid_amount");
}

async function afterGateway(payment) {
  if (payment.status === "paid") {
    toast(t("pay.paid"), "ok");
    return showResult(await settled(() => api.get(`/api/orders/${orderId}`), (o) => o.status !== "unpaid"));
  }
  toast(t("pay.closed"), "warn");
  view = await api.get(`/api/orders/${orderId}/checkout`);
  discount = "";
  node.form.hidden = false;
  clear(node.payment);
  render();
  return undefined;
}

function gateway(payment) {
  node.form.hidden = true;
  paymentPanel(node.payment, payment, (done) => afterGateway(done).catch(showError));
}

const addresses = addressPicker(view.addresses);
node.pay.addEventListener("click", () => action(node.pay, async () => {
  if (!addresses.id) {
    $("#address-form").hidden = false;
    return toast(t("pay.need_address"), "error");
  }
  const bd = planned();
  const body = { address_id: addresses.id, pay_type: bd.to_pay ? payType : "balance" };
  if (discount === "credits") body.credits = bd.credits;
  else if (discount) body.coupon_id = discount;
  try {
    const answer = await api.post(`/api/orders/${orderId}/pay`, body);
    if (answer.payment) return gateway(answer.payment);
    toast(t("pay.paid"), "ok");
    return showResult(answer.order);
  } catch (error) {
    if (error.code !== "order_not_payable" || !error.extra.payment) throw error;
    return gateway(await api.get(`/api/payments/${error.extra.payment}`));  // one under way already
  }
}));

const deadline = el("span", { class: "countdown", id: "deadline" });
const stopDeadline = order.status !== "unpaid" ? () => {}
  : tick(() => { deadline.textContent = t("orders.pay_within", { time: duration(Date.parse(view.deadline) - Date.now()) }); });
clear(node.form,
  el("section", { class: "card" }, el("h2", { text: t("pay.address") }), addresses.node),
  el("section", { class: "card" }, el("h2", { text: t("pay.discount") }), discounts),
  el("section", { class: "card" }, el("h2", { text: t("pay.breakdown") }), node.breakdown, rest),
  el("section", { class: "card" }, el("h2", { text: t("pay.how") }), node.payTypes),
  el("div", { class: "bid-bar pay-bar" }, el("div", { class: "row between" }, el("span", { text: t("pay.to_pay") }), node.toPay), node.pay));

clear($("#app"),
  el("section", { class: "card order-head" }, el("div", { class: "row" }, image(order.cover, "", "thumb"),
    el("div", { class: "body" },
      el("a", { href: `/lot.html?id=${order.lot_id}`, class: "title", id: "pay-title", text: order.title }),
      el("p", { class: "muted", text: t("orders.no", { no: order.order_no }) }),
      el("p", {}, t("orders.price"), " ", el("strong", { text: money(order.price) }), " ", deadline)))),
  node.payment, node.form);

if (order.status === "overdue") clear(node.form, el("p", { class: "notice warn", id: "result", text: t("pay.overdue") }));
else if (order.status !== "unpaid") showResult(order);
else if (view.payment && view.payment.status === "pending") gateway(view.payment);
else render();
