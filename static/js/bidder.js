// What every bidder page starts with: labels, the top bar, who is logged in.
import { api } from "./client.js";
import { translate } from "./i18n.js";
import { header } from "./ui.js";

// Phase 2 (coupons, credits, offers) adds its pages here.
const LINKS = [["/", "nav.sessions"], ["/orders.html", "nav.orders"], ["/deposits.html", "nav.deposits"],
  ["/wallet.html", "nav.wallet"]];

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
