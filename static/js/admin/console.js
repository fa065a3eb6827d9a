// What every console page starts with: the operator's token (pasted once,
// the one `make run` prints), the top bar, and small form helpers.
import { operatorApi } from "../client.js";
import { translate, t } from "../i18n.js";
import { $, action, clear, dateTime, el, header } from "../ui.js";

const LINKS = [["/admin/", "console.sessions"], ["/admin/orders.html", "console.orders"],
  ["/admin/deposits.html", "console.deposits"], ["/admin/coupons.html", "console.coupons"],
  ["/admin/credits.html", "console.credits"], ["/admin/audit.html", "console.audit"], ["/", "console.site"]];

function tokenForm() {
  const input = el("input", { id: "operator-token", type: "password", autocomplete: "off", required: true,
    placeholder: t("console.token_placeholder") });
  const submit = el("button", { type: "submit", id: "operator-login", class: "primary", text: t("console.login") });
  return el("form", { class: "card narrow", on: { submit: (event) => {
    event.preventDefault();
    action(submit, async () => {
      operatorApi.token = input.value.trim();
      const me = await operatorApi.get("/api/me").catch((error) => {
        operatorApi.token = "";
        throw error;
      });
      if (me.role !== "operator") {
        operatorApi.token = "";
        throw Object.assign(new Error(), { code: "forbidden" });
      }
      location.reload();
    });
  } } }, el("h1", { text: t("console.login_title") }), el("p", { class: "muted", text: t("console.token_hint") }),
  el("label", { text: t("console.token") }, input), submit);
}

// The operator, or (no valid token) the token form and a page that goes no further.
export async function operatorPage() {
  translate();
  document.body.classList.add("console");
  const me = operatorApi.token ? await operatorApi.get("/api/me").catch(() => null) : null;
  const user = me && me.role === "operator" ? me : null;
  header(LINKS, user, { onLogout: () => { operatorApi.token = ""; location.reload(); }, home: "/admin/" });
  if (!user) {
    clear($("#app"), tokenForm());
    await new Promise(() => {});
  }
  return user;
}

export function field(label, input, hint = "") {
  return el("label", { class: "field" }, el("span", { text: label }), input, hint ? el("small", { class: "muted", text: hint }) : null);
}

const pad = (n) => String(n).padStart(2, "0");

// ISO time <-> the value of <input type="datetime-local"> (local time, to the minute).
export function localInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function fromLocalInput(value) {
  return value ? new Date(value).toISOString() : "";
}

// A user's id, linked to the page that grants or takes their credits.
export function userCell(userId) {
  return el("td", { class: "mono" }, el("a", { href: `/admin/credits.html?user=${encodeURIComponent(userId)}`, text: userId }));
}

export const AUDIT_COLUMNS = ["console.time", "console.action", "console.actor", "console.details"];

export function auditRow(entry) {
  const { at, action: what, actor, target, ...details } = entry;
  return el("tr", {}, el("td", { text: dateTime(at, true) }), el("td", { text: what }), el("td", { text: actor }),
    el("td", { class: "mono", text: Object.keys(details).length ? JSON.stringify(details) : "" }));
}
