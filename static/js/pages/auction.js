// A session: its facts, the deposit, and its lots with live prices (the
// session subscription sends a summary of every bid and each status change).
import { api } from "../client.js";
import { bidderLive, bidderPage } from "../bidder.js";
import { depositPanel } from "../deposit.js";
import { statusText, t } from "../i18n.js";
import { $, badge, clear, dateTime, duration, el, halt, image, money, param, tick } from "../ui.js";

const user = await bidderPage();
const app = $("#app");
const id = param("id");
let session;
try {
  session = await api.get(`/api/auctions/${id}`);
} catch (error) {
  await halt(error);
}
document.title = session.title;
const live = bidderLive(user).connect().watchAuction(id);
const lotNodes = new Map();

function rule() {
  if (!session.extend_window_s) return t("auction.no_extension");
  return t("auction.extension", { window: session.extend_window_s, by: session.extend_by_s });
}

const statusBadge = el("span");
const clock = el("span", { class: "countdown" });
function renderStatus() {
  clear(statusBadge, badge(statusText("auction", session.status, session.status_text), session.status));
}
tick(() => {
  const [key, at] = session.status === "live" ? ["home.ends_in", session.auction_end]
    : session.status === "ended" ? [null, null] : ["home.starts_in", session.auction_start];
  clock.textContent = key ? t(key, { time: duration(Date.parse(at) - live.now()) }) : "";
});

function lotCard(lot) {
  const price = el("strong", { class: "price" });
  const state = el("span");
  const count = el("span", { class: "muted" });
  const update = () => {
    price.textContent = lot.bid_count ? money(lot.price) : t("auction.start_at", { price: money(lot.start_price) });
    clear(state, badge(statusText("lot", lot.status, lot.status_text), lot.status));
    count.textContent = t("auction.bids", { n: lot.bid_count });
  };
  update();
  lotNodes.set(lot.id, { lot, update });
  const href = `/lot.html?id=${lot.id}`;
  return el("article", { class: "card lot-card", dataset: { id: lot.id } },
    el("a", { href, class: "cover-link" }, image(lot.cover, "", "cover")),
    el("div", { class: "body" },
      el("p", { class: "muted", text: t("lot.catalog_no", { no: lot.catalog_no }) }),
      el("a", { href, class: "title", text: lot.title }),
      el("div", { class: "row between" }, price, state), count));
}

const deposit = el("section", { class: "card deposit", id: "deposit" });
const showDeposit = (mine) => depositPanel(deposit, { user, auction: session, deposit: mine,
  onPaid: (paid) => showDeposit(paid) });
showDeposit(session.my_deposit);
renderStatus();

clear(app,
  el("section", { class: "card session-head" },
    image(session.cover, "", "cover wide"),
    el("div", { class: "body" },
      el("div", { class: "row between" }, el("h1", { text: session.title }), statusBadge),
      el("p", { class: "muted", text: t("home.preview", { from: dateTime(session.preview_start), to: dateTime(session.preview_end) }) }),
      el("p", { class: "muted", text: t("home.auction", { from: dateTime(session.auction_start), to: dateTime(session.auction_end) }) }),
      el("p", { text: t("home.deposit", { amount: money(session.deposit) }) }),
      el("p", { class: "muted", text: rule() }),
      el("p", { class: "stats", text: t("home.stats", { lots: session.lot_count, bids: session.bid_count, looks: session.look_count }) }),
      clock)),
  deposit,
  el("h2", { text: t("auction.lots") }),
  session.lots.length ? el("div", { class: "grid", id: "lots" }, session.lots.map(lotCard))
    : el("p", { class: "empty-note", text: t("auction.no_lots") }));

live.on("summary", (frame) => {
  const entry = lotNodes.get(frame.lot);
  if (!entry) return;
  Object.assign(entry.lot, { price: frame.price, bid_count: frame.bid_count, end_at: frame.end_at });
  entry.update();
});
live.on("status", (frame) => {
  const entry = lotNodes.get(frame.lot);
  if (!entry) return;
  entry.lot.status = frame.status;
  entry.update();
});
live.on("auction", (frame) => {
  if (frame.auction !== id) return;
  session.status = frame.status;
  renderStatus();
});
