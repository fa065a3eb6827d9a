// The one client every page uses: the HTTP API (spec/api.md) and the live
// socket (spec/ws.md), the same contract a mini-program speaks.

const TOKEN_KEYS = { bidder: "gavel.token", operator: "gavel.operator" };

export class ApiError extends Error {
  constructor(status, code, message, extra = {}) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.extra = extra;
  }
}

export class Api {
  // Bidders and operators keep their tokens apart, so one browser can hold both.
  constructor(role = "bidder") {
    this.key = TOKEN_KEYS[role];
  }

  get token() {
    return localStorage.getItem(this.key) || "";
  }

  set token(value) {
    if (value) localStorage.setItem(this.key, value);
    else localStorage.removeItem(this.key);
  }

  async call(method, path, body, form) {
    const headers = {};
    const token = this.token;
    if (token) headers.Authorization = `token ${token}`;
    let payload = form;
    if (!form && (body !== undefined || method === "POST" || method === "PUT")) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body ?? {});
    }
    let resp;
    try {
      resp = await fetch(path, { method, headers, body: payload });
    } catch {
      throw new ApiError(0, "network", "network error");
    }
    if (resp.status === 204) return null;
    const data = await resp.json().catch(() => null);
    if (resp.ok) return data;
    const error = (data && data.error) || {};
    if (resp.status === 401 && token) this.token = "";  // ended or unknown: log in again
    throw new ApiError(resp.status, error.code || "internal", error.message || resp.statusText, error);
  }

  get(path) { return this.call("GET", path); }
  post(path, body) { return this.call("POST", path, body); }
  put(path, body) { return this.call("PUT", path, body); }
  del(path) { return this.call("DELETE", path); }

  upload(file) {
    const form = new FormData();
    form.append("file", file);
    return this.call("POST", "/api/admin/uploads", undefined, form);
  }
}

export const api = new Api("bidder");
export const operatorApi = new Api("operator");

const PING_EVERY_MS = 15000;
const REQUEST_TIMEOUT_MS = 10000;
const MAX_BACKOFF_MS = 10000;

// The socket: one per page, many lots on it. Reconnects with backoff and
// resumes each lot from the last seq seen (a replay, or a fresh snapshot
// when the server no longer holds the missed bids); a gap in seq asks again
// the same way. Pings keep the server-time offset countdowns run on.
export class Live {
  constructor(token = "") {
    this.token = token;
    this.ws = null;
    this.lots = new Map();      // lot id -> last seq applied (null until its snapshot)
    this.resyncing = new Set(); // lots asked again after a gap, until the answer fills it
    this.auctions = new Set();
    this.coupons = false;       // the claim centre's feed
    this.listeners = new Map();
    this.pending = new Map();   // request id -> {resolve, reject, timer}
    this.offset = 0;            // server clock minus ours, ms
    this.bestRtt = Infinity;
    this.attempt = 0;
    this.counter = 0;
    this.state = "idle";
    this.pinger = 0;
  }

  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, []);
    this.listeners.get(type).push(fn);
    return this;
  }

  emit(type, frame) {
    for (const fn of this.listeners.get(type) || []) fn(frame);
  }

  now() {
    return Date.now() + this.offset;
  }

  setState(state) {
    this.state = state;
    this.emit("state", state);
  }

  connect() {
    if (this.ws) return this;
    this.setState(this.attempt ? "reconnecting" : "connecting");
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws`);
    this.ws = ws;
    ws.onopen = () => this.opened();
    ws.onmessage = (event) => this.receive(event.data);
    ws.onclose = () => this.closed(ws);
    return this;
  }

  opened() {
    this.attempt = 0;
    if (this.token) this.send({ op: "auth", token: this.token });
    for (const [lot, seq] of this.lots) this.subscribeLot(lot, seq);
    for (const auction of this.auctions) this.send({ op: "subscribe", auction });
    if (this.coupons) this.send({ op: "subscribe", coupons: true });
    this.ping();
    this.pinger = setInterval(() => this.ping(), PING_EVERY_MS);
    this.setState("open");
  }

  closed(ws) {
    if (this.ws !== ws) return;
    this.ws = null;
    clearInterval(this.pinger);
    this.resyncing.clear();
    for (const id of [...this.pending.keys()]) this.settle(id, null, new ApiError(0, "offline", "connection lost"));
    const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempt) * (0.5 + Math.random() / 2);
    this.attempt += 1;
    this.setState("reconnecting");
    setTimeout(() => this.connect(), delay);
  }

  send(message) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  ping() {
    this.send({ op: "ping", t: Date.now() });
  }

  subscribeLot(lot, since) {
    this.send(since == null ? { op: "subscribe", lot } : { op: "subscribe", lot, since });
  }

  watchLot(lot) {
    if (!this.lots.has(lot)) this.lots.set(lot, null);
    this.subscribeLot(lot, this.lots.get(lot));
    return this;
  }

  watchAuction(auction) {
    this.auctions.add(auction);
    this.send({ op: "subscribe", auction });
    return this;
  }

  // The claim centre: a snapshot of every coupon's remaining count, then
  // each change (resent after a reconnect, which sends a fresh snapshot).
  watchCoupons() {
    this.coupons = true;
    this.send({ op: "subscribe", coupons: true });
    return this;
  }

  receive(raw) {
    let frame;
    try {
      frame = JSON.parse(raw);
    } catch {
      return;
    }
    if (frame.server_time && this.bestRtt === Infinity) this.offset = frame.server_time - Date.now();
    const handler = this[`on_${frame.type}`];
    if (handler) handler.call(this, frame);
    else this.emit(frame.type, frame);
  }

  on_pong(frame) {
    const rtt = Date.now() - frame.t;
    if (rtt <= this.bestRtt + 20) {  // the quickest round trips say the most about the offset
      this.bestRtt = Math.min(rtt, this.bestRtt);
      this.offset = frame.server_time + rtt / 2 - Date.now();
    }
    this.emit("clock", this.offset);
  }

  on_snapshot(frame) {
    this.lots.set(frame.lot.id, frame.lot.seq);
    this.resyncing.delete(frame.lot.id);
    this.emit("snapshot", frame);
  }

  on_bid(frame) {
    if (frame.summary) return this.emit("summary", frame);
    if (!this.inOrder(frame.lot, frame.seq, true)) return;
    this.emit("bid", frame);
  }

  on_status(frame) {
    if (this.lots.has(frame.lot)) this.inOrder(frame.lot, frame.seq, false);
    this.emit("status", frame);
  }

  // A bid takes the next seq; a status carries the current one. Anything
  // beyond means frames were missed: subscribe again from the last seen.
  inOrder(lot, seq, takesSeq) {
    const have = this.lots.get(lot);
    if (have == null) return false;  // the snapshot or replay on its way covers it
    const expected = takesSeq ? have + 1 : have;
    if (seq < expected || (takesSeq && seq === have)) return false;
    if (seq > expected) {
      if (!this.resyncing.has(lot)) {
        this.resyncing.add(lot);
        this.subscribeLot(lot, have);
      }
      return false;
    }
    if (takesSeq) this.lots.set(lot, seq);
    this.resyncing.delete(lot);
    return true;
  }

  on_ack(frame) {
    this.settle(frame.id, frame, null);
  }

  on_error(frame) {
    const error = new ApiError(0, frame.code, frame.message, frame);
    if (frame.id && this.pending.has(frame.id)) return this.settle(frame.id, null, error);
    this.emit("error", error);
  }

  settle(id, value, error) {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (error) p.reject(error);
    else p.resolve(value);
  }

  request(message) {
    const id = `c-${Date.now().toString(36)}-${++this.counter}`;
    return new Promise((resolve, reject) => {
      if (!this.send({ ...message, id })) return reject(new ApiError(0, "offline", "not connected"));
      const timer = setTimeout(() => this.settle(id, null, new ApiError(0, "timeout", "no answer")), REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
    });
  }

  // A bid goes over the socket when it is up, else over HTTP with the same
  // rules (and the same idempotency key, should both arrive).
  async bid(lot, price) {
    if (this.state === "open") return this.request({ op: "bid", lot, price });
    const body = await api.post(`/api/lots/${lot}/bids`, { price, client_id: `h-${Date.now().toString(36)}` });
    return { lot, seq: body.bid.seq, price: body.bid.price };
  }
}
