// The live controls of one lot (pause, resume, undo the last bid, offer an
// overdue lot to the runner-up) beside its full bid list and audit trail.
import { Live, operatorApi as api } from "../client.js";
import { statusText, t } from "../i18n.js";
import { $, action, badge, clear, confirmBox, connection, dateTime, duration, el, halt, money, param, showError,
  table, tick, toast } from "../ui.js";
import { AUDIT_COLUMNS, auditRow, operatorPage } from "./console.js";

await operatorPage();
const id = param("id");
let lot;
try {
  lot = await api.get(`/api/admin/lots/${id}`);
} catch (error) {
  await halt(error);
}
const live = new Live(api.token);
const node = { status: el("span", { id: "lot-status" }), price: el("strong", { id: "price", class: "big-price" }),
  leader: el("span", { id: "leader" }), countdown: el("span", { class: "countdown" }), conn: el("span", { class: "conn" }),
  bids: el("tbody", { id: "admin-bids" }), audit: el("tbody", { id: "audit" }), buttons: el("div", { class: "row wrap" }),
  offer: el("div", { id: "offer" }) };
connection(live, node.conn);

const CONTROLS = [
  ["pause", ["live"], "console.pause"], ["resume", ["paused"], "console.resume"],
  ["undo", ["live", "paused"], "console.undo"], ["second-chance", ["overdue"], "console.second_chance"],
];

function render() {
  clear(node.status, badge(statusText("lot", lot.status, lot.status_text), lot.status));
  node.price.textContent = lot.bid_count ? money(lot.price) : t("auction.start_at", { price: money(lot.start_price) });
  node.leader.textContent = lot.leader ? t("lot.leader", { name: lot.leader }) : t("lot.no_leader");
  clear(node.buttons, CONTROLS.map(([name, when, label]) => {
    const button = el("button", { type: "button", id: `control-${name}`, class: name === "undo" ? "danger" : "primary",
      text: t(label), disabled: !when.includes(lot.status) });
    button.addEventListener("click", () => action(button, async () => {
      if (name === "undo" && !(await confirmBox(t("console.confirm_undo")))) return;
      const answer = await api.post(`/api/admin/lots/${id}/${name}`);
      if (name === "second-chance") showOffer({ ...answer.offer, user_id: answer.user_id });
      toast(name === "second-chance" ? t("console.offered", { user: answer.user_id }) : t("console.done"), "ok");
      await refresh();
    }));
    return button;
  }));
}

// The offer the second-chance button made: to whom, at what price, until when
// (what becomes of it shows in the audit trail below).
function showOffer(offer) {
  clear(node.offer, el("div", { class: "notice ok", dataset: { offer: offer.id } },
    el("strong", { text: t("console.offer_made") }), " ",
    badge(statusText("offer", offer.status, offer.status_text), offer.status),
    el("p", { text: t("console.offer_terms", { user: offer.user_id, price: money(offer.price), deadline: dateTime(offer.deadline, true) }) })));
}

async function refresh() {
  try {
    const [fresh, bids, audit] = await Promise.all([api.get(`/api/admin/lots/${id}`),
      api.get(`/api/admin/lots/${id}/bids?limit=200`), api.get(`/api/admin/audit?target=${id}`)]);
    lot = fresh;
    clear(node.bids, bids.items.map((b) => el("tr", { class: b.status === "void" ? "void" : "", dataset: { seq: b.seq } },
      el("td", { class: "num", text: b.seq }), el("td", { class: "num", text: money(b.price) }), el("td", { text: b.bidder }),
      el("td", { class: "mono", text: b.user_id }), el("td", { text: t(`console.kind_${b.kind}`) }),
      el("td", { text: statusText("bid", b.status, b.status_text) }), el("td", { text: dateTime(b.created_at, true) }))));
    clear(node.audit, audit.items.map(auditRow));
    render();
  } catch (error) {
    showError(error);
  }
}

let pending = 0;
const soon = () => {  // many bids in a burst: one refresh
  clearTimeout(pending);
  pending = setTimeout(refresh, 200);
};
live.on("snapshot", soon).on("bid", soon).on("status", soon).on("error", showError);
tick(() => {
  const left = Date.parse(lot.end_at) - live.now();
  node.countdown.textContent = lot.status === "live" ? t("lot.ends_in", { time: duration(left) }) : "";
});

clear($("#app"),
  el("p", {}, el("a", { href: `/admin/auction.html?id=${lot.auction_id}`, text: t("console.back_to_session") }),
    el("a", { href: `/lot.html?id=${id}`, class: "spaced", text: t("console.bidder_view") })),
  el("div", { class: "row between" }, el("h1", { text: lot.title }), node.status),
  el("section", { class: "card" }, el("div", { class: "row between" }, node.price, node.countdown),
    el("p", {}, node.leader, " · ", node.conn), node.buttons, node.offer),
  el("section", { class: "card" }, el("h2", { text: t("console.bids") }),
    table(["#", t("console.price"), t("console.bidder"), t("console.user"), t("console.kind"), t("console.status"), t("console.time")],
      node.bids)),
  el("section", { class: "card" }, el("h2", { text: t("console.audit") }),
    table(AUDIT_COLUMNS.map((key) => t(key)), node.audit)));
render();
await refresh();
live.connect().watchLot(id);
