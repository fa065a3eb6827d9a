// 优惠券列表: every coupon not deleted, newest first, filtered by status and
// scope (?status=&scope=); a coupon is edited while it is pending, deleted any time.
import { operatorApi as api } from "../client.js";
import { scope, worth } from "../coupon.js";
import { statusText, t } from "../i18n.js";
import { $, action, badge, clear, confirmBox, dateTime, el, image, param, showError, table, toast } from "../ui.js";
import { operatorPage } from "./console.js";

await operatorPage();
const rows = el("tbody", { id: "coupons" });
const filter = (name, values, kind) => el("select", { id: `${name}-filter`, "aria-label": t(`console.${name}`) },
  ["", ...values].map((v) => el("option", { value: v, text: v ? statusText(kind, v) : t("console.all"), selected: v === param(name) })));
const status = filter("status", ["pending", "claiming", "ended"], "coupon");
const scopes = filter("scope", ["general", "auction", "lot"], "coupon_scope");

function row(c) {
  const remove = el("button", { type: "button", class: "link danger", text: t("console.delete") });
  remove.addEventListener("click", () => action(remove, async () => {
    if (!(await confirmBox(t("console.confirm_delete", { title: c.title })))) return;
    await api.del(`/api/admin/coupons/${c.id}`);
    toast(t("console.deleted"), "ok");
    await load();
  }));
  const use = c.use_end ? `${dateTime(c.use_start)} – ${dateTime(c.use_end)}`
    : c.valid_days ? t("coupon.valid_days", { days: c.valid_days }) : t("coupon.until_session_end");
  return el("tr", { dataset: { id: c.id } },
    el("td", {}, image(c.cover, "", "thumb")),
    el("td", {}, el("a", { href: `/admin/coupon.html?id=${c.id}`, class: "title", text: c.title })),
    el("td", { text: statusText("coupon_kind", c.kind, c.kind_text) }),
    el("td", { text: worth(c) }),
    el("td", {}, scope(c, false)),
    el("td", { class: "num count", text: t("console.claimed_of", { claimed: c.claimed, count: c.count, remaining: c.remaining }) }),
    el("td", { text: `${dateTime(c.claim_start)} – ${dateTime(c.claim_end)}` }),
    el("td", { text: use }),
    el("td", {}, badge(statusText("coupon", c.status, c.status_text), c.status)),
    el("td", { class: "actions" },
      el("a", { href: `/admin/coupon.html?id=${c.id}`, text: c.status === "pending" ? t("console.edit") : t("console.view") }),
      remove));
}

async function load() {
  const query = new URLSearchParams(Object.entries({ status: status.value, scope: scopes.value }).filter(([, v]) => v));
  history.replaceState(null, "", query.size ? `?${query}` : location.pathname);
  try {
    const { items } = await api.get(`/api/admin/coupons?${query}`);
    clear(rows, items.length ? items.map(row) : el("tr", {}, el("td", { colspan: 10, class: "empty-note", text: t("console.no_coupons") })));
  } catch (error) {
    showError(error);
  }
}

status.addEventListener("change", load);
scopes.addEventListener("change", load);
clear($("#app"),
  el("div", { class: "row between wrap" }, el("h1", { text: t("console.coupons_title") }),
    el("div", { class: "row" }, status, scopes,
      el("a", { href: "/admin/coupon.html", class: "button primary", id: "new-coupon", text: t("console.new_coupon") }))),
  table([t("console.cover"), t("console.coupon_title"), t("console.kind"), t("console.coupon_value"), t("console.scope"),
    t("console.claimed"), t("console.claim_time"), t("console.use_time"), t("console.status"), t("console.actions")], rows));
await load();
