// What every bidder page starts with: labels, the top bar, who is logged in;
// and the socket of a page that has one, which also brings the bidder's
// second-chance offers as they are made.
import { api, Live } from "./client.js";
import { translate, t } from "./i18n.js";
import { $, el, header, money } from "./ui.js";

const LINKS = [["/", "nav.sessions"], ["/orders.html", "nav.orders"], ["/coupons.html", "nav.coupons"],
  ["/offers.html", "nav.offers"], ["/deposits.html", "nav.deposits"], ["/wallet.html", "nav.wallet"]];

export function loginUrl() {
  return `/login.html?next=${encodeURIComponent(location.pathname + location.search)}`;
}

export async function bidderPage({ mustLogin = false } = {}) {
  translate();
  const user = api.token ? await api.get("/api/me").catch(() => null) : null;
  const onLogout = () => {
    api.token = "";
    location.reload();
  };
  header(LINKS, user, { onLogout, loginHref: loginUrl() });
  if (!user && mustLogin) location.replace(loginUrl());
  return user;
}

// A pending offer stays on screen (under the top bar) until it is decided.
function offerNotice(frame) {
  let box = $("#offer-notices");
  if (!box) $("#top").after((box = el("ul", { id: "offer-notices", class: "notices banner", "aria-live": "polite" })));
  const old = box.querySelector(`[data-offer="${CSS.escape(frame.offer)}"]`);
  if (old) old.remove();
  if (frame.status !== "pending" || location.pathname === "/offers.html") return;
  box.append(el("li", { class: "notice warn", dataset: { offer: frame.offer } },
    t("offers.notice", { title: frame.title, price: money(frame.price) }), " ",
    el("a", { href: "/offers.html", text: t("offers.view") })));
}

// The page's socket (not yet connected); a logged-in bidder's hears of offers.
export function bidderLive(user) {
  const live = new Live(api.token);
  if (user) live.on("offer", offerNotice);
  return live;
}
