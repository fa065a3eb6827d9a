// A coupon in words and as a card, the same in the claim centre, my coupons,
// the pay page and the console. `value` is cents off, except a discount's:
// the percent paid (88 = pay 88 %, "8.8折").
import { statusText, t } from "./i18n.js";
import { dateTime, el, image, money } from "./ui.js";

export function worth(c) {
  if (c.kind === "cash") return t("coupon.cash", { amount: money(c.value) });
  if (c.kind === "threshold") return t("coupon.threshold", { min: money(c.min_spend), amount: money(c.value) });
  const rate = String(c.value / 10);
  const text = t("coupon.discount", { rate, off: 100 - c.value });
  return c.max_off ? `${text} ${t("coupon.max_off", { amount: money(c.max_off) })}` : text;
}

// Where it applies: everywhere, or one session's or lot's (linked for bidders).
export function scope(c, link = true) {
  if (c.scope === "general") return el("span", { text: t("coupon.scope_general") });
  const href = c.scope === "lot" ? `/lot.html?id=${c.lot_id}` : `/auction.html?id=${c.auction_id}`;
  const label = t(c.scope === "lot" ? "coupon.scope_lot" : "coupon.scope_auction");
  const name = c.scope_title || t("coupon.this_one");
  return el("span", {}, `${label} `, link ? el("a", { href, text: name }) : el("span", { text: name }));
}

// How long a coupon of the claim centre may be used once claimed.
export function useTerms(c) {
  if (c.use_end) return t("coupon.use_window", { from: dateTime(c.use_start), to: dateTime(c.use_end) });
  if (c.valid_days) return t("coupon.valid_days", { days: c.valid_days });
  return t("coupon.until_session_end");
}

// A claimed coupon: until when (and from when, if not yet).
export function expiry(uc) {
  const from = uc.use_start && Date.parse(uc.use_start) > Date.now() ? t("coupon.from", { at: dateTime(uc.use_start) }) : "";
  return [from, uc.expires_at ? t("coupon.expires", { at: dateTime(uc.expires_at) }) : ""].filter(Boolean).join(" · ");
}

export function couponCard(c, { lines = [], side = null, cls = "" } = {}) {
  return el("article", { class: `card coupon ${cls}`, dataset: { id: c.id } },
    el("div", { class: "coupon-worth" }, el("strong", { text: worth(c) }), el("span", { class: "muted", text: statusText("coupon_kind", c.kind, c.kind_text) })),
    el("div", { class: "body" },
      el("div", { class: "row between" }, el("span", { class: "title", text: c.title }), c.cover ? image(c.cover, "", "thumb small") : null),
      el("p", { class: "muted" }, scope(c)),
      lines.filter(Boolean).map((line) => (typeof line === "string" ? el("p", { class: "muted", text: line }) : line)),
      side ? el("div", { class: "row end" }, side) : null));
}
