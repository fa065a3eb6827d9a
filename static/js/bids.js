// The latest bids of a lot, newest first. An operator's undo voids a bid
// (shown as withdrawn) and adds a correction, which is not a bid of anyone.
import { statusText, t } from "./i18n.js";
import { clear, dateTime, el, money } from "./ui.js";

const KEEP = 50;

// The public history marks both the voided bid and the correction `void`.
// A correction restores an earlier price (or none); a voided bid was above
// every valid bid before it.
function withoutCorrections(bids) {
  const kept = [];
  let top = 0;
  for (const bid of [...bids].reverse()) {
    if (bid.status === "void" && (bid.price === 0 || bid.price <= top)) continue;
    if (bid.status !== "void") top = Math.max(top, bid.price);
    kept.unshift(bid);
  }
  return kept;
}

export class BidList {
  constructor(node) {
    this.node = node;
    this.bids = [];
  }

  reset(bids) {
    this.bids = withoutCorrections(bids);
    this.render();
  }

  add(frame) {
    if (frame.correction) {
      const voided = this.bids.find((b) => b.seq === frame.voided_seq);
      if (voided) voided.status = "void";
    } else {
      this.bids.unshift({ seq: frame.seq, price: frame.price, bidder: frame.bidder, status: "bidding",
        created_at: new Date(frame.server_time).toISOString() });
      this.bids.length = Math.min(this.bids.length, KEEP);
    }
    this.render();
  }

  render() {
    if (!this.bids.length) return clear(this.node, el("li", { class: "empty-note", text: t("lot.no_bids") }));
    clear(this.node, this.bids.map((bid, i) => el("li", {
      class: `bid ${bid.status === "void" ? "void" : ""} ${i === 0 && bid.status !== "void" ? "leading" : ""}`, dataset: { seq: bid.seq } },
    el("span", { class: "who", text: bid.bidder || "—" }),
    el("span", { class: "price", text: money(bid.price) }),
    bid.status === "void" ? el("span", { class: "tag", text: t("lot.withdrawn") })
      : el("span", { class: "tag", text: statusText("bid", bid.status) }),
    el("time", { class: "muted", text: dateTime(bid.created_at, true).slice(11) }))));
  }
}
