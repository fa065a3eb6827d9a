// A lot's form: title, catalog number, cover and detail images (uploaded),
// specs, prices. ?auction= makes a new lot in that session; ?id= edits one.
import { operatorApi as api } from "../client.js";
import { t } from "../i18n.js";
import { $, action, cents, clear, el, halt, param, toast, yuan } from "../ui.js";
import { field, operatorPage } from "./console.js";
import { imagePicker } from "./images.js";

await operatorPage();
const id = param("id");
let lot = null;
try {
  lot = id ? await api.get(`/api/admin/lots/${id}`) : null;
} catch (error) {
  await halt(error);
}
const auctionId = lot ? lot.auction_id : param("auction");
const editable = !lot || ["scheduled", "preview"].includes(lot.status);
const v = lot || { title: "", catalog_no: "", cover: "", images: [], specs: [], start_price: 0, increment: 10000,
  estimate_low: 0, estimate_high: 0, reserve_price: 0, deposit: 10000 };

const input = (name, props = {}) => el("input", { name, id: `f-${name}`, ...props });
const title = input("title", { required: true, maxlength: 64, value: v.title });
const catalogNo = input("catalog_no", { maxlength: 32, pattern: "[A-Za-z0-9-]{1,32}", value: v.catalog_no });
const cover = imagePicker(api, "cover", v.cover ? [v.cover] : [], { single: true });
const images = imagePicker(api, "images", v.images);
const MONEY = [["start_price", true], ["increment", true], ["estimate_low", false], ["estimate_high", false],
  ["reserve_price", false], ["deposit", true]];
const prices = Object.fromEntries(MONEY.map(([name, required]) =>
  [name, input(name, { inputmode: "decimal", required, value: yuan(v[name]) })]));

const specRows = el("div", { class: "specs-edit", id: "specs" });
function specRow(spec = { key: "", value: "" }) {
  const row = el("div", { class: "row spec-row" },
    el("input", { class: "spec-key", maxlength: 32, placeholder: t("console.spec_key"), value: spec.key }),
    el("input", { class: "spec-value", maxlength: 128, placeholder: t("console.spec_value"), value: spec.value }),
    el("button", { type: "button", class: "link danger", text: t("console.remove"), on: { click: () => row.remove() } }));
  specRows.append(row);
}
v.specs.forEach(specRow);

function body() {
  const out = { title: title.value.trim(), cover: cover.urls()[0] || "", images: images.images(),
    specs: [...specRows.children].map((row) => ({ key: $(".spec-key", row).value.trim(), value: $(".spec-value", row).value.trim() }))
      .filter((s) => s.key) };
  if (catalogNo.value.trim()) out.catalog_no = catalogNo.value.trim();
  for (const [name, required] of MONEY) {
    const text = prices[name].value.trim();
    const amount = text ? cents(text) : 0;
    if (Number.isNaN(amount) || (required && !(amount > 0))) {
      throw Object.assign(new Error(t("console.bad_money", { field: t(`console.${name}`) })), { code: "" });
    }
    out[name] = amount;
  }
  return out;
}

const save = el("button", { type: "submit", id: "save-lot", class: "primary", text: t("console.save") });
const form = el("form", { class: "card form", id: "lot-form", on: { submit: (event) => {
  event.preventDefault();
  action(save, async () => {
    if (lot) await api.put(`/api/admin/lots/${id}`, body());
    else await api.post(`/api/admin/auctions/${auctionId}/lots`, body());
    toast(t("console.saved"), "ok");
    location.href = `/admin/auction.html?id=${auctionId}`;
  });
} } },
el("fieldset", { disabled: !editable },
  field(t("console.lot_title"), title), field(t("console.catalog_no"), catalogNo, t("console.catalog_hint")),
  field(t("console.cover"), cover.node), field(t("console.images"), images.node),
  el("div", { class: "cols" }, ...MONEY.map(([name]) => field(t(`console.${name}`), prices[name], t("console.yuan")))),
  el("div", { class: "field" }, el("span", { text: t("console.specs") }), specRows,
    el("button", { type: "button", class: "ghost", id: "add-spec", text: t("console.add_spec"), on: { click: () => specRow() } })),
  save));

clear($("#app"),
  el("p", {}, el("a", { href: `/admin/auction.html?id=${auctionId}`, text: t("console.back_to_session") }),
    lot ? el("a", { href: `/admin/live.html?id=${id}`, class: "spaced", text: t("console.live") }) : null),
  el("h1", { text: lot ? lot.title : t("console.new_lot") }),
  editable ? null : el("p", { class: "notice info", text: t("console.locked") }), form);
