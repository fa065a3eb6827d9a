// 专场信息: the session form (date-time pickers, deposit, extension rule)
// and its lots table (封面 / 名称 / 图录号 / 起拍价 / 加价幅度 / 参考价格 / 状态).
import { operatorApi as api } from "../client.js";
import { statusText, t } from "../i18n.js";
import { $, action, badge, cents, clear, confirmBox, el, halt, image, money, param, table, toast, yuan } from "../ui.js";
import { field, fromLocalInput, localInput, operatorPage } from "./console.js";
import { imagePicker } from "./images.js";

await operatorPage();
const app = $("#app");
const id = param("id");
const EDITABLE = ["scheduled", "preview"];
let session = null;
try {
  session = id ? await api.get(`/api/admin/auctions/${id}`) : null;
} catch (error) {
  await halt(error);
}

const hour = 3600 * 1000;
const soon = Math.ceil(Date.now() / (5 * 60000)) * 5 * 60000;
const defaults = { title: "", cover: "", preview_start: new Date(soon).toISOString(),
  preview_end: new Date(soon + 24 * hour).toISOString(), auction_start: new Date(soon + 24 * hour).toISOString(),
  auction_end: new Date(soon + 25 * hour).toISOString(), deposit: 100000, extend_window_s: 0, extend_by_s: 0, max_extend_s: 0 };
const values = session || defaults;

const input = (name, props = {}) => el("input", { name, id: `f-${name}`, ...props });
const title = input("title", { required: true, maxlength: 64, value: values.title });
const cover = imagePicker(api, "cover", values.cover ? [values.cover] : [], { single: true });
const times = Object.fromEntries(["preview_start", "preview_end", "auction_start", "auction_end"].map((name) =>
  [name, input(name, { type: "datetime-local", required: true, value: localInput(values[name]) })]));
const deposit = input("deposit", { inputmode: "decimal", required: true, value: yuan(values.deposit) });
const seconds = (name) => input(name, { type: "number", min: 0, max: 86400, step: 1, value: String(values[name]) });
const rule = { extend_window_s: seconds("extend_window_s"), extend_by_s: seconds("extend_by_s"), max_extend_s: seconds("max_extend_s") };
const save = el("button", { type: "submit", id: "save-session", class: "primary", text: t("console.save") });
const editable = !session || EDITABLE.includes(session.status);

function body() {
  const amount = cents(deposit.value);
  if (!(amount > 0)) throw Object.assign(new Error(t("console.bad_money", { field: t("console.deposit") })), { code: "" });
  return { title: title.value.trim(), cover: cover.urls()[0] || "", deposit: amount,
    ...Object.fromEntries(Object.entries(times).map(([name, node]) => [name, fromLocalInput(node.value)])),
    ...Object.fromEntries(Object.entries(rule).map(([name, node]) => [name, Number(node.value || 0)])) };
}

const form = el("form", { class: "card form", id: "session-form", on: { submit: (event) => {
  event.preventDefault();
  action(save, async () => {
    const saved = session ? await api.put(`/api/admin/auctions/${id}`, body()) : await api.post("/api/admin/auctions", body());
    toast(t("console.saved"), "ok");
    if (!session) location.href = `/admin/auction.html?id=${saved.id}`;
  });
} } },
el("fieldset", { disabled: !editable },
  field(t("console.title"), title), field(t("console.cover"), cover.node),
  el("div", { class: "cols" }, field(t("console.preview_start"), times.preview_start), field(t("console.preview_end"), times.preview_end)),
  el("div", { class: "cols" }, field(t("console.auction_start"), times.auction_start), field(t("console.auction_end"), times.auction_end)),
  field(t("console.deposit"), deposit, t("console.yuan")),
  el("div", { class: "cols" }, field(t("console.extend_window"), rule.extend_window_s, t("console.seconds_off")),
    field(t("console.extend_by"), rule.extend_by_s), field(t("console.max_extend"), rule.max_extend_s, t("console.seconds_off"))),
  save));

function lotRow(lot) {
  const remove = el("button", { type: "button", class: "link danger", text: t("console.delete"), disabled: !editable });
  remove.addEventListener("click", () => action(remove, async () => {
    if (!(await confirmBox(t("console.confirm_delete", { title: lot.title })))) return;
    await api.del(`/api/admin/lots/${lot.id}`);
    location.reload();
  }));
  const estimate = lot.estimate_low || lot.estimate_high ? `${money(lot.estimate_low)} – ${money(lot.estimate_high)}` : "—";
  return el("tr", { dataset: { id: lot.id } },
    el("td", {}, image(lot.cover, "", "thumb")), el("td", { class: "title", text: lot.title }), el("td", { text: lot.catalog_no }),
    el("td", { class: "num", text: money(lot.start_price) }), el("td", { class: "num", text: money(lot.increment) }),
    el("td", { class: "num", text: estimate }),
    el("td", {}, badge(statusText("lot", lot.status, lot.status_text), lot.status)),
    el("td", { class: "actions" },
      el("a", { href: `/admin/lot.html?id=${lot.id}`, text: editable ? t("console.edit") : t("console.view") }),
      el("a", { href: `/admin/live.html?id=${lot.id}`, text: t("console.live") }), remove));
}

const heading = session ? [el("h1", { text: session.title }), badge(statusText("auction", session.status), session.status)]
  : [el("h1", { text: t("console.new_session") })];
clear(app, el("div", { class: "row between" }, ...heading), editable ? null : el("p", { class: "notice info", text: t("console.locked") }),
  form,
  session ? el("section", { class: "card" },
    el("div", { class: "row between" }, el("h2", { text: t("console.lots") }),
      el("span", { class: "row" },
        el("a", { href: `/admin/audit.html?target=${id}`, text: t("console.audit") }),
        editable ? el("a", { href: `/admin/lot.html?auction=${id}`, class: "button primary", id: "new-lot", text: t("console.new_lot") }) : null)),
    table([t("console.cover"), t("console.lot_title"), t("console.catalog_no"), t("console.start_price"), t("console.increment"),
      t("console.estimate"), t("console.status"), t("console.actions")], session.lots.map(lotRow))) : null);
