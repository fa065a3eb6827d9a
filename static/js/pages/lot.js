// The lot room: the live price on the socket, one-tap and custom bids, a
// proxy maximum, the latest bids, the countdown on server time, and every
// notice a bidder needs (outbid, extension, pause, close, lost connection).
import { api } from "../client.js";
import { bidderLive, bidderPage, loginUrl } from "../bidder.js";
import { BidList } from "../bids.js";
import { carousel } from "../carousel.js";
import { covers, depositPanel } from "../deposit.js";
import { statusText, t } from "../i18n.js";
import { $, action, badge, cents, clear, confirmBox, connection, dateTime, duration, el, halt, money, param,
  showError, tick, toast } from "../ui.js";

const BIG_JUMP_INCREMENTS = 5;  // a custom bid this many increments above the next minimum asks first

const user = await bidderPage();
const lotId = param("id");
let lot;
let session;
let proxyMax = 0;
try {
  lot = await api.get(`/api/lots/${lotId}`);
  [session, proxyMax] = await Promise.all([api.get(`/api/auctions/${lot.auction_id}`),
    user ? api.get(`/api/lots/${lotId}/proxy`).then((p) => p.max_price) : 0]);
} catch (error) {
  await halt(error);
}
document.title = lot.title;

const state = { status: lot.status, price: lot.price, next_min: lot.next_min, leader: lot.leader, bid_count: lot.bid_count,
  end_at: Date.parse(lot.end_at), deal_price: lot.deal_price, watchers: 0, reserve_met: lot.reserve_met };
let deposit = lot.my_deposit;
const mine = new Map();  // seq -> price of this bidder's acknowledged bids
let leading = false;     // known from acks, outbid notices, corrections and the proxy's answer

const live = bidderLive(user);
const bidList = new BidList(el("ol", { id: "bids", class: "bids" }));
const node = {
  status: el("span", { id: "lot-status" }),
  price: el("strong", { id: "price", class: "big-price" }),
  priceLabel: el("span", { class: "muted" }),
  leader: el("span", { id: "leader" }),
  reserve: el("span", { id: "reserve", class: "tag warn" }),
  nextMin: el("strong", { id: "next-min" }),
  countdown: el("span", { id: "countdown", class: "countdown" }),
  watchers: el("span", { id: "watchers" }),
  bidCount: el("span", { id: "bid-count" }),
  lead: el("p", { id: "lead", class: "lead", hidden: true, text: t("lot.leading") }),
  notices: el("ul", { id: "notices", class: "notices", "aria-live": "polite" }),
  conn: el("span", { id: "conn", class: "conn" }),
  bidNow: el("button", { type: "button", id: "bid-now", class: "primary big" }),
  custom: el("input", { id: "custom-price", inputmode: "decimal", placeholder: t("lot.custom_placeholder") }),
  bidCustom: el("button", { type: "button", id: "bid-custom", class: "ghost", text: t("lot.bid_custom") }),
  proxy: el("input", { id: "proxy-max", inputmode: "decimal", placeholder: t("lot.proxy_placeholder") }),
  setProxy: el("button", { type: "button", id: "set-proxy", class: "ghost", text: t("lot.set_proxy") }),
  proxyNow: el("p", { id: "proxy-now", class: "muted" }),
  deposit: el("div", { id: "deposit" }),
  controls: el("div", { class: "controls" }),
};
connection(live, node.conn);

const notices = new Map();
function notice(key, text, kind = "info") {
  if (!text) notices.delete(key);
  else notices.set(key, { text, kind });
  clear(node.notices, [...notices].map(([k, n]) => el("li", { class: `notice ${n.kind}`, dataset: { notice: k }, text: n.text })));
}

const canBid = () => Boolean(user) && state.status === "live" && covers(deposit);

function render() {
  clear(node.status, badge(statusText("lot", state.status), state.status));
  node.priceLabel.textContent = state.bid_count ? t("lot.current_price") : t("lot.start_price");
  node.price.textContent = money(state.bid_count ? state.price : lot.start_price);
  node.leader.textContent = state.leader ? t("lot.leader", { name: state.leader }) : t("lot.no_leader");
  node.reserve.textContent = state.bid_count && !state.reserve_met ? t("lot.reserve_not_met") : "";
  node.nextMin.textContent = money(state.next_min);
  node.bidCount.textContent = t("lot.bid_count", { n: state.bid_count });
  node.watchers.textContent = t("lot.watchers", { n: state.watchers, looks: lot.look_count });
  node.bidNow.textContent = !user ? t("lot.login_to_bid") : covers(deposit) ? t("lot.bid_now", { price: money(state.next_min) })
    : t("lot.deposit_first");
  node.lead.hidden = !(leading && ["live", "paused"].includes(state.status));
  for (const b of [node.bidCustom, node.setProxy]) b.disabled = !canBid();
  node.bidNow.disabled = Boolean(user) && covers(deposit) && state.status !== "live";
  node.proxyNow.textContent = proxyMax ? t("lot.proxy_now", { price: money(proxyMax) }) : "";
  node.controls.hidden = !covers(deposit);
  const closed = { sold: t("lot.sold", { price: money(state.deal_price || state.price) }), unsold: t("lot.unsold"),
    overdue: t("lot.overdue") }[state.status];
  notice("state", state.status === "paused" ? t("lot.paused") : closed, state.status === "paused" ? "warn" : "info");
  if (state.status === "sold" && leading) notice("won", t("lot.won"), "ok");
}

tick(() => {
  const left = state.end_at - live.now();
  if (state.status === "live") node.countdown.textContent = left > 0 ? t("lot.ends_in", { time: duration(left) }) : t("lot.closing");
  else if (["scheduled", "preview"].includes(state.status)) {
    node.countdown.textContent = t("lot.starts_in", { time: duration(Date.parse(session.auction_start) - live.now()) });
  } else node.countdown.textContent = state.status === "paused" ? t("lot.paused_short") : "";
});

function showDeposit() {
  depositPanel(node.deposit, { user, auction: session, lot, deposit, onPaid: async (paid) => {
    deposit = paid;
    user.balance = (await api.get("/api/me").catch(() => user)).balance;
    showDeposit();
    render();
  } });
}

function acknowledged(ack) {
  mine.set(ack.seq, ack.price);
  if (ack.seq >= (live.lots.get(lotId) ?? 0)) leading = true;
  notice("outbid", "");
  toast(t("lot.bid_ok", { price: money(ack.price) }), "ok");
  render();
}

function refused(error) {
  if (error.extra && error.extra.next_min) state.next_min = error.extra.next_min;
  if (error.code === "bid_too_high" && error.extra.max_price) {
    toast(t("lot.too_high", { price: money(error.extra.max_price) }), "error");
    return render();
  }
  if (error.code === "deposit_required") {
    deposit = null;
    showDeposit();
  }
  showError(error);
  render();
}

async function bid(price) {
  try {
    acknowledged(await live.bid(lotId, price));
  } catch (error) {
    refused(error);
  }
}

node.bidNow.addEventListener("click", () => {
  if (!user) location.href = loginUrl();
  else if (!covers(deposit)) node.deposit.scrollIntoView({ behavior: "smooth", block: "center" });
  else action(node.bidNow, () => bid(state.next_min));
});
node.bidCustom.addEventListener("click", () => action(node.bidCustom, async () => {
  const price = cents(node.custom.value);
  if (!(price > 0)) return toast(t("lot.bad_amount"), "error");
  if (price < state.next_min) return toast(t("lot.below_min", { price: money(state.next_min) }), "error");
  if (price - state.next_min >= BIG_JUMP_INCREMENTS * lot.increment) {
    const sure = await confirmBox(t("lot.big_jump", { price: money(price), over: money(price - state.next_min) }));
    if (!sure) return undefined;
  }
  await bid(price);
  node.custom.value = "";
  return undefined;
}));
node.setProxy.addEventListener("click", () => action(node.setProxy, async () => {
  const max = cents(node.proxy.value);
  if (!(max > 0)) return toast(t("lot.bad_amount"), "error");
  const body = await api.put(`/api/lots/${lotId}/proxy`, { max_price: max });
  proxyMax = body.max_price;
  leading = body.leading;
  node.proxy.value = "";
  toast(t("lot.proxy_ok", { price: money(proxyMax) }), "ok");
  render();
  return undefined;
}));

live.on("snapshot", (frame) => {
  if (frame.lot.id !== lotId) return;
  const s = frame.lot;
  Object.assign(state, { status: s.status, price: s.price, next_min: s.next_min, leader: s.leader,
    bid_count: s.bid_count, end_at: Date.parse(s.end_at), watchers: s.watchers, reserve_met: s.reserve_met });
  const top = frame.bids.find((b) => b.status !== "void");
  if (mine.size) leading = Boolean(top && mine.get(top.seq) === top.price);
  bidList.reset(frame.bids);
  render();
});
live.on("bid", (frame) => {
  if (frame.lot !== lotId) return;
  const end = Date.parse(frame.end_at);
  if (end > state.end_at + 500 && !frame.correction) {
    notice("extension", t("lot.extended", { time: dateTime(frame.end_at, true).slice(11),
      by: Math.round((end - live.now()) / 1000) }), "warn");
  }
  Object.assign(state, { price: frame.price, next_min: frame.next_min, leader: frame.bidder, bid_count: frame.bid_count,
    end_at: end, reserve_met: frame.reserve_met });
  if (frame.correction) {  // the bid before the voided one leads again: maybe this bidder's
    mine.delete(frame.voided_seq);
    leading = [...mine.values()].includes(frame.price);
    notice("undo", t("lot.undone_public"), "info");
  } else if (!mine.has(frame.seq)) leading = false;  // someone's bid (or this bidder's, acknowledged in a moment)
  bidList.add(frame);
  render();
});
live.on("outbid", (frame) => {
  if (frame.lot !== lotId) return;
  leading = false;
  const text = proxyMax >= frame.price + lot.increment ? t("lot.outbid_proxy", { price: money(frame.price), max: money(proxyMax) })
    : t("lot.outbid", { price: money(frame.price) });
  notice("outbid", text, "warn");
  toast(text, "warn");
  render();
});
live.on("bid_undone", (frame) => {
  if (frame.lot !== lotId) return;
  leading = false;
  notice("outbid", t("lot.undone_mine", { price: money(frame.price) }), "warn");
  render();
});
live.on("status", (frame) => {
  if (frame.lot !== lotId) return;
  Object.assign(state, { status: frame.status, deal_price: frame.deal_price, end_at: Date.parse(frame.end_at) });
  if (frame.status !== "live") notice("extension", "");
  render();
});
live.on("watchers", (frame) => {
  if (frame.lot !== lotId) return;
  state.watchers = frame.count;
  render();
});
live.on("error", showError);
live.on("state", (s) => notice("conn", s === "reconnecting" ? t("conn.lost") : "", "warn"));

const spec = (label, value) => el("div", { class: "spec" }, el("dt", { text: label }), el("dd", { text: value }));
const estimate = lot.estimate_low || lot.estimate_high
  ? `${money(lot.estimate_low)} – ${money(lot.estimate_high)}` : t("lot.no_estimate");
showDeposit();
node.controls.append(
  el("div", { class: "row" }, node.custom, node.bidCustom),
  el("div", { class: "row" }, node.proxy, node.setProxy), node.proxyNow);

// Two columns on a wide screen; on a phone one, in the order the CSS gives.
clear($("#app"),
  el("div", { class: "col" },
    lot.images.length || lot.cover ? el("div", { class: "media" }, carousel(lot)) : null,
    el("section", { class: "card details" }, el("h2", { text: t("lot.details") }),
      el("dl", { class: "specs" },
        spec(t("lot.start_price"), money(lot.start_price)), spec(t("lot.increment"), money(lot.increment)),
        spec(t("lot.estimate"), estimate), spec(t("lot.deposit"), money(lot.deposit)),
        spec(t("lot.session_deposit"), money(session.deposit)),
        spec(t("lot.extension_rule"), session.extend_window_s
          ? t("auction.extension", { window: session.extend_window_s, by: session.extend_by_s }) : t("auction.no_extension")),
        lot.specs.map((s) => spec(s.key, s.value))))),
  el("div", { class: "col" },
    el("section", { class: "card lot-head" },
      el("p", { class: "muted" }, el("a", { href: `/auction.html?id=${session.id}`, text: session.title }),
        ` · ${t("lot.catalog_no", { no: lot.catalog_no })}`),
      el("div", { class: "row between" }, el("h1", { id: "lot-title", text: lot.title }), node.status),
      el("p", { class: "muted" }, node.watchers, " · ", node.bidCount, " · ", node.conn)),
    el("section", { class: "card live-panel" },
      el("div", { class: "row between" }, el("div", {}, node.priceLabel, el("br"), node.price), node.countdown),
      el("p", {}, node.leader, " · ", t("lot.next_min"), " ", node.nextMin, " ", node.reserve),
      node.lead, node.notices, node.deposit, node.controls),
    el("div", { class: "bid-bar" }, node.bidNow),
    el("section", { class: "card bids-box" }, el("h2", { text: t("lot.latest_bids") }), bidList.node)));

render();
live.connect().watchLot(lotId);
