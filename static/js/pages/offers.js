// My second-chance offers: a lot whose winner did not pay, offered to me at
// my last bid, to accept (an order to pay) or decline before its deadline.
// The socket tells of a new offer, or a move of one, while the page is open.
import { api } from "../client.js";
import { bidderLive, bidderPage } from "../bidder.js";
import { statusText, t } from "../i18n.js";
import { $, action, badge, clear, confirmBox, dateTime, duration, el, image, money, showError, tick, toast } from "../ui.js";

const user = await bidderPage({ mustLogin: true });
const list = el("div", { class: "list", id: "offers" });
const stopTicks = [];

function decide(offer, how) {
  const button = el("button", { type: "button", class: how === "accept" ? "primary accept" : "ghost decline",
    text: t(`offers.${how}`) });
  button.addEventListener("click", () => action(button, async () => {
    if (how === "decline" && !(await confirmBox(t("offers.confirm_decline", { title: offer.title })))) return;
    const answer = await api.post(`/api/offers/${offer.id}/${how}`);
    toast(t(how === "accept" ? "offers.accepted" : "offers.declined"), "ok");
    if (how === "accept") location.href = `/pay.html?order=${answer.order.id}`;
    else await load();
  }));
  return button;
}

function item(offer) {
  const open = offer.status === "pending" && Date.parse(offer.deadline) > Date.now();
  const left = el("span", { class: "countdown" });
  if (open) {
    stopTicks.push(tick(() => { left.textContent = t("offers.within", { time: duration(Date.parse(offer.deadline) - Date.now()) }); }));
  }
  return el("article", { class: "card order offer", dataset: { id: offer.id } },
    image(offer.cover, "", "thumb"),
    el("div", { class: "body" },
      el("div", { class: "row between" }, el("a", { href: `/lot.html?id=${offer.lot_id}`, class: "title", text: offer.title }),
        badge(statusText("offer", offer.status, offer.status_text), offer.status)),
      el("p", {}, t("offers.price"), " ", el("strong", { class: "price", text: money(offer.price) })),
      el("p", { class: "muted", text: t("offers.deadline", { at: dateTime(offer.deadline, true) }) }),
      open ? el("p", { class: "muted", text: t("offers.deposit_note") }) : null,
      el("div", { class: "row end wrap" }, open ? [left, decide(offer, "decline"), decide(offer, "accept")] : null,
        offer.order_id ? el("a", { href: `/pay.html?order=${offer.order_id}`, class: "button ghost", text: t("offers.to_order") }) : null)));
}

async function load() {
  try {
    const { items } = await api.get("/api/offers");
    stopTicks.splice(0).forEach((stop) => stop());
    clear(list, items.length ? items.map(item) : el("p", { class: "empty-note", text: t("offers.none") }));
  } catch (error) {
    showError(error);
  }
}

clear($("#app"), el("h1", { text: t("title.offers") }), el("p", { class: "muted", text: t("offers.intro") }), list);
await load();
bidderLive(user).on("offer", load).connect();
