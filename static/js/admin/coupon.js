// A coupon's form (seeds 003/004): kind and value, the threshold or the
// discount's cap, how many, the claim window, how long it may be used (a
// window, days after the claim, or until its session ends), its scope (all,
// a session, a lot) and a cover. Editable until claiming starts.
import { operatorApi as api } from "../client.js";
import { t } from "../i18n.js";
import { $, action, cents, clear, el, halt, param, toast, yuan } from "../ui.js";
import { field, fromLocalInput, localInput, operatorPage } from "./console.js";
import { imagePicker } from "./images.js";

await operatorPage();
const id = param("id");
let coupon = null;
let sessions = [];
try {
  [coupon, sessions] = await Promise.all([id ? api.get(`/api/admin/coupons/${id}`) : null,
    api.get("/api/admin/auctions").then((body) => body.items)]);
} catch (error) {
  await halt(error);
}
const DAY = 86400 * 1000;
const minute = Math.floor(Date.now() / 60000) * 60000;
const v = coupon || { title: "", cover: "", kind: "cash", value: 1000, min_spend: 0, max_off: 0, count: 100, scope: "general",
  auction_id: null, lot_id: null, claim_start: new Date(minute).toISOString(), claim_end: new Date(minute + 7 * DAY).toISOString(),
  use_start: null, use_end: null, valid_days: 7 };
const editable = !coupon || coupon.status === "pending";

const input = (name, props = {}) => el("input", { name, id: `f-${name}`, ...props });
const select = (name, options, value) => el("select", { name, id: `f-${name}` },
  options.map(([key, label]) => el("option", { value: key, text: label, selected: key === value })));
const title = input("title", { required: true, maxlength: 64, value: v.title });
const cover = imagePicker(api, "cover", v.cover ? [v.cover] : [], { single: true });
const kind = select("kind", ["cash", "threshold", "discount"].map((k) => [k, t(`st.coupon_kind.${k}`)]), v.kind);
const value = input("value", { inputmode: "decimal", required: true, value: v.kind === "discount" ? String(v.value) : yuan(v.value) });
const minSpend = input("min_spend", { inputmode: "decimal", value: yuan(v.min_spend) });
const maxOff = input("max_off", { inputmode: "decimal", value: yuan(v.max_off) });
const count = input("count", { type: "number", min: 1, max: 1000000, step: 1, required: true, value: String(v.count) });
const times = Object.fromEntries(["claim_start", "claim_end", "use_start", "use_end"].map((name) =>
  [name, input(name, { type: "datetime-local", value: localInput(v[name]) })]));
const validDays = input("valid_days", { type: "number", min: 1, max: 3650, step: 1, value: String(v.valid_days || 7) });
const useMode = select("use_mode", [["days", t("console.use_days")], ["window", t("console.use_window")],
  ["session", t("console.use_session")]], v.use_end ? "window" : v.valid_days ? "days" : "session");
const scope = select("scope", ["general", "auction", "lot"].map((s) => [s, t(`st.coupon_scope.${s}`)]), v.scope);
const auction = el("select", { id: "f-auction_id", name: "auction_id" });
const lot = el("select", { id: "f-lot_id", name: "lot_id" });

clear(auction, sessions.filter((s) => s.status !== "ended" || s.id === v.auction_id).map((s) =>
  el("option", { value: s.id, text: s.title, selected: s.id === v.auction_id })));
async function loadLots(chosen = "") {
  const session = auction.value ? await api.get(`/api/admin/auctions/${auction.value}`) : { lots: [] };
  clear(lot, session.lots.map((l) => el("option", { value: l.id, text: `${l.catalog_no} ${l.title}`, selected: l.id === chosen })));
}
auction.addEventListener("change", () => loadLots());

const label = el("span");
const shown = {};
function adapt() {  // only the fields that the chosen kind, use and scope take
  label.textContent = kind.value === "discount" ? t("console.discount_value") : t("console.cash_value");
  shown.min_spend.hidden = kind.value !== "threshold";
  shown.max_off.hidden = kind.value !== "discount";
  shown.days.hidden = useMode.value !== "days";
  shown.window.hidden = useMode.value !== "window";
  shown.auction.hidden = scope.value === "general";
  shown.lot.hidden = scope.value !== "lot";
  useMode.querySelector("[value=session]").disabled = scope.value === "general";
  if (scope.value === "general" && useMode.value === "session") useMode.value = "days";
}

const amountOf = (node, name) => {
  const text = node.value.trim();
  const amount = text ? cents(text) : 0;
  if (Number.isNaN(amount)) throw Object.assign(new Error(t("console.bad_money", { field: t(`console.${name}`) })), { code: "" });
  return amount;
};

function body() {
  const discount = kind.value === "discount";
  const mode = useMode.value;
  return {
    title: title.value.trim(), cover: cover.urls()[0] || "", kind: kind.value, count: Number(count.value),
    value: discount ? Number(value.value) : amountOf(value, "coupon_value"),
    min_spend: kind.value === "threshold" ? amountOf(minSpend, "min_spend") : 0, max_off: discount ? amountOf(maxOff, "max_off") : 0,
    claim_start: fromLocalInput(times.claim_start.value), claim_end: fromLocalInput(times.claim_end.value),
    use_start: mode === "window" ? fromLocalInput(times.use_start.value) : null,
    use_end: mode === "window" ? fromLocalInput(times.use_end.value) : null,
    valid_days: mode === "days" ? Number(validDays.value) : 0,
    scope: scope.value, auction_id: scope.value === "general" ? "" : auction.value, lot_id: scope.value === "lot" ? lot.value : "",
  };
}

const save = el("button", { type: "submit", id: "save-coupon", class: "primary", text: t("console.save") });
shown.min_spend = field(t("console.min_spend"), minSpend, t("console.yuan"));
shown.max_off = field(t("console.max_off"), maxOff, t("console.max_off_hint"));
shown.days = field(t("console.valid_days"), validDays);
shown.window = el("div", { class: "cols" }, field(t("console.use_start"), times.use_start), field(t("console.use_end"), times.use_end));
shown.auction = field(t("console.session"), auction);
shown.lot = field(t("console.lot"), lot);
for (const node of [kind, useMode, scope]) node.addEventListener("change", adapt);

const form = el("form", { class: "card form", id: "coupon-form", on: { submit: (event) => {
  event.preventDefault();
  action(save, async () => {
    if (coupon) await api.put(`/api/admin/coupons/${id}`, body());
    else await api.post("/api/admin/coupons", body());
    toast(t("console.saved"), "ok");
    location.href = "/admin/coupons.html";
  });
} } },
el("fieldset", { disabled: !editable },
  field(t("console.coupon_title"), title), field(t("console.cover"), cover.node),
  el("div", { class: "cols" }, field(t("console.kind"), kind),
    el("label", { class: "field" }, label, value), shown.min_spend, shown.max_off),
  el("div", { class: "cols" }, field(t("console.count"), count), field(t("console.claim_start"), times.claim_start),
    field(t("console.claim_end"), times.claim_end)),
  el("div", { class: "cols" }, field(t("console.use_mode"), useMode), shown.days), shown.window,
  el("div", { class: "cols" }, field(t("console.scope"), scope), shown.auction, shown.lot),
  save));

adapt();
await loadLots(v.lot_id || "");
clear($("#app"),
  el("p", {}, el("a", { href: "/admin/coupons.html", text: t("console.back_to_coupons") })),
  el("h1", { text: coupon ? coupon.title : t("console.new_coupon") }),
  editable ? null : el("p", { class: "notice info", text: t("console.coupon_locked") }), form);
