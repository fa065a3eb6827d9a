// The latest bids of a lot, newest first, each with its bidder ("3号 用*").
// An operator's undo voids a bid (shown as withdrawn); its correction frame
// is not a bid of anyone and is not listed.
import { statusText, t } from "./i18n.js";
import { clear, dateTime, el, money } from "./ui.js";

const KEEP = 50;

export class BidList {
  constructor(node) {
    this.node = node;
    this.bids = [];
  }

  reset(bids) {
    this.bids = [...bids];
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
