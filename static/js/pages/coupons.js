// 领券中心: every coupon given out now or before, its remaining count kept
// live by the socket's claim-centre feed, and a claim button. A coupon the
// feed names for the first time has just opened: the list is read again.
import { api } from "../client.js";
import { bidderLive, bidderPage, loginUrl } from "../bidder.js";
import { couponCard, useTerms } from "../coupon.js";
import { statusText, t } from "../i18n.js";
import { $, action, badge, clear, dateTime, el, showError, toast } from "../ui.js";

const user = await bidderPage();
const list = el("div", { class: "list", id: "coupons" });
const cards = new Map();  // coupon id -> {coupon, update}
let reading = null;
let again = false;

function claimButton(coupon, update) {
  if (!user) return el("a", { href: loginUrl(), class: "button primary", text: t("coupons.login_to_claim") });
  const button = el("button", { type: "button", class: "primary claim" });
  button.addEventListener("click", async () => {
    await action(button, async () => {
      try {
        const body = await api.post(`/api/coupons/${coupon.id}/claim`);
        coupon.held = true;
        coupon.remaining = Math.min(coupon.remaining, body.remaining);
        toast(t("coupons.claimed"), "ok");
      } catch (error) {
        if (error.code === "coupon_already_claimed") coupon.held = true;
        if (error.code === "coupon_sold_out") coupon.remaining = 0;
        throw error;
      }
    });
    update();
  });
  return button;
}

function card(coupon) {
  const remaining = el("span", { class: "remaining" });
  const status = el("span");
  let button = null;
  const update = () => {
    remaining.textContent = t("coupons.remaining", { remaining: coupon.remaining, count: coupon.count });
    clear(status, badge(statusText("coupon", coupon.status, coupon.status_text), coupon.status));
    if (button.tagName !== "BUTTON") return;
    button.textContent = coupon.held ? t("coupons.held") : coupon.status !== "claiming" ? t("coupons.ended")
      : coupon.remaining > 0 ? t("coupons.claim") : t("coupons.sold_out");
    button.disabled = coupon.held || coupon.status !== "claiming" || coupon.remaining <= 0;
  };
  button = claimButton(coupon, update);
  update();
  cards.set(coupon.id, { coupon, update });
  return couponCard(coupon, { lines: [
    el("p", { class: "row between" }, remaining, status),
    t("coupons.claim_window", { from: dateTime(coupon.claim_start), to: dateTime(coupon.claim_end) }),
    useTerms(coupon),
  ], side: button });
}

async function read() {
  if (reading) {  // a read under way may predate the change: read once more after it
    again = true;
    return reading;
  }
  reading = api.get("/api/coupons").then(({ items }) => {
    cards.clear();
    clear(list, items.length ? items.map(card) : el("p", { class: "empty-note", text: t("coupons.none") }));
  }).catch(showError).finally(() => {
    reading = null;
    if (again) {
      again = false;
      read();
    }
  });
  return reading;
}

const live = bidderLive(user);
live.on("coupons", (frame) => {
  let unknown = false;
  for (const item of frame.items) {
    const entry = cards.get(item.id);
    if (item.deleted) {
      if (entry) read();
    } else if (!entry) {
      unknown = unknown || item.status !== "pending";
    } else {
      entry.coupon.remaining = Math.min(entry.coupon.remaining, item.remaining);  // never goes back up
      entry.coupon.status = item.status;
      entry.coupon.status_text = item.status_text;
      entry.update();
    }
  }
  if (unknown) read();
});

clear($("#app"),
  el("div", { class: "row between" }, el("h1", { text: t("title.coupons") }),
    user ? el("a", { href: "/my-coupons.html", id: "my-coupons", text: t("coupons.mine") }) : null),
  list);
await read();
live.connect().watchCoupons();
