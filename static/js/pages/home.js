// Sessions by status, with countdowns on server time; a session watched on
// the socket changes its badge when it goes live or ends.
import { api } from "../client.js";
import { bidderLive, bidderPage } from "../bidder.js";
import { statusText, t } from "../i18n.js";
import { $, badge, clear, dateTime, duration, el, image, money, param, showError, tabs, tick } from "../ui.js";

const user = await bidderPage();
const app = $("#app");
const ORDER = ["live", "preview", "scheduled", "ended"];
const live = bidderLive(user).connect();
let sessions = [];
let current = param("status");
const stopTicks = [];

try {
  sessions = (await api.get("/api/auctions")).items;
} catch (error) {
  showError(error);
}
if (!ORDER.includes(current)) current = ORDER.find((s) => sessions.some((a) => a.status === s)) || "live";
for (const session of sessions) if (session.status !== "ended") live.watchAuction(session.id);
live.on("auction", (frame) => {
  const session = sessions.find((a) => a.id === frame.auction);
  if (session) {
    session.status = frame.status;
    render();
  }
});

function countdown(session) {
  const node = el("span", { class: "countdown" });
  const [key, at] = session.status === "live" ? ["home.ends_in", session.auction_end]
    : session.status === "ended" ? [null, null] : ["home.starts_in", session.auction_start];
  if (!key) return el("span", { class: "muted", text: t("home.total_deal", { amount: money(session.total_deal) }) });
  stopTicks.push(tick(() => { node.textContent = t(key, { time: duration(Date.parse(at) - live.now()) }); }));
  return node;
}

function card(session) {
  const href = `/auction.html?id=${session.id}`;
  return el("article", { class: "card session", dataset: { id: session.id } },
    el("a", { href, class: "cover-link" }, image(session.cover, "", "cover")),
    el("div", { class: "body" },
      el("div", { class: "row between" },
        el("a", { href, class: "title", text: session.title }),
        badge(statusText("auction", session.status, session.status_text), session.status)),
      el("p", { class: "muted", text: t("home.preview", { from: dateTime(session.preview_start), to: dateTime(session.preview_end) }) }),
      el("p", { class: "muted", text: t("home.auction", { from: dateTime(session.auction_start), to: dateTime(session.auction_end) }) }),
      el("p", { class: "stats", text: t("home.stats", { lots: session.lot_count, bids: session.bid_count, looks: session.look_count }) }),
      el("div", { class: "row between" }, countdown(session),
        el("span", { class: "muted", text: t("home.deposit", { amount: money(session.deposit) }) }))));
}

function render() {
  stopTicks.splice(0).forEach((stop) => stop());
  const shown = sessions.filter((a) => a.status === current);
  const choose = (status) => {
    current = status;
    history.replaceState(null, "", `?status=${status}`);
    render();
  };
  const labels = ORDER.map((s) => [s, `${statusText("auction", s)} ${sessions.filter((a) => a.status === s).length}`]);
  clear(app, el("h1", { class: "sr-only", text: t("title.home") }), tabs(labels, current, choose),
    shown.length ? el("div", { class: "grid" }, shown.map(card)) : el("p", { class: "empty-note", text: t("home.none") }));
}

render();
