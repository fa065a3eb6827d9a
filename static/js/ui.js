// DOM helpers shared by the pages. Text always goes in as text
// (textContent), never as HTML: nothing a user typed can become markup.
import { errorText, lang, setLang, t } from "./i18n.js";

// el("a", {class: "x", href: "/", text: "hi", on: {click: fn}}, child, …)
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name === "class") node.className = value;
    else if (name === "on") for (const [event, fn] of Object.entries(value)) node.addEventListener(event, fn);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name in node && typeof value !== "string") node[name] = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

export function clear(node, ...children) {
  node.replaceChildren(...children.flat().filter(Boolean));
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);

export function param(name) {
  return new URLSearchParams(location.search).get(name) || "";
}

// Cents to "¥1,234", "¥1,234.50" or "-¥1,234".
export function money(cents) {
  const value = Number(cents || 0);
  const whole = value % 100 === 0;
  const text = "¥" + (Math.abs(value) / 100).toLocaleString("zh-CN", { minimumFractionDigits: whole ? 0 : 2, maximumFractionDigits: 2 });
  return value < 0 ? `-${text}` : text;
}

// "123.45" (yuan, as typed) to cents, exactly; NaN when it is not an amount.
export function cents(text) {
  const match = String(text).trim().replace(/[,¥]/g, "").match(/^(\d{1,10})(?:\.(\d{1,2}))?$/);
  if (!match) return NaN;
  return Number(match[1]) * 100 + Number((match[2] || "0").padEnd(2, "0"));
}

export const yuan = (value) => (value ? String(value / 100) : "");

const pad = (n) => String(n).padStart(2, "0");

export function dateTime(iso, withSeconds = false) {
  if (!iso) return "";
  const d = new Date(iso);
  const text = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return withSeconds ? `${text}:${pad(d.getSeconds())}` : text;
}

export function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const days = Math.floor(s / 86400);
  const clock = `${pad(Math.floor((s % 86400) / 3600))}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
  return days ? t("time.days", { days, clock }) : clock;
}

// One timer for every countdown on the page: each entry is re-rendered
// once a second from the server-corrected clock.
const ticking = new Set();
let ticker = 0;
export function tick(render) {
  ticking.add(render);
  render();
  if (!ticker) ticker = setInterval(() => ticking.forEach((fn) => fn()), 1000);
  return () => ticking.delete(render);
}

export function toast(text, kind = "info") {
  let box = $("#toasts");
  if (!box) document.body.append((box = el("div", { id: "toasts", role: "status", "aria-live": "polite" })));
  const item = el("div", { class: `toast ${kind}`, text });
  box.append(item);
  while (box.children.length > 3) box.firstChild.remove();
  setTimeout(() => item.remove(), 2500);
  return item;
}

export function showError(error) {
  toast(errorText(error), "error");
}

// A page that cannot go on (its lot or session is gone): say why, go no further.
export async function halt(error) {
  clear($("#app"), el("p", { class: "empty-note", id: "halted", text: errorText(error) }));
  await new Promise(() => {});
}

// Run an action from a button: the button is busy meanwhile, errors are shown.
export async function action(button, fn) {
  button.disabled = true;
  try {
    return await fn();
  } catch (error) {
    showError(error);
    return undefined;
  } finally {
    button.disabled = false;
  }
}

export function confirmBox(text) {
  return new Promise((resolve) => {
    const dialog = el("dialog", { class: "confirm" });
    const done = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    dialog.append(
      el("p", { text }),
      el("div", { class: "row end" },
        el("button", { type: "button", class: "ghost", text: t("common.cancel"), on: { click: () => done(false) } }),
        el("button", { type: "button", class: "primary", text: t("common.confirm"), on: { click: () => done(true) } })),
    );
    dialog.addEventListener("cancel", () => done(false));
    document.body.append(dialog);
    dialog.showModal();
  });
}

export function badge(text, status) {
  return el("span", { class: `badge s-${status}`, text });
}

export function image(src, alt = "", cls = "thumb") {
  return src ? el("img", { src, alt, class: cls, loading: "lazy" }) : el("div", { class: `${cls} empty`, "aria-hidden": "true" });
}

export function tabs(items, current, choose) {
  return el("nav", { class: "tabs", role: "tablist" }, items.map(([key, label]) =>
    el("button", { type: "button", role: "tab", class: key === current ? "tab on" : "tab",
      "aria-selected": String(key === current), dataset: { tab: key }, text: label, on: { click: () => choose(key) } })));
}

// A table in a scrolling wrapper; `rows` is a list of <tr> or a <tbody> to fill later.
export function table(columns, rows) {
  return el("div", { class: "table-wrap" }, el("table", {},
    el("thead", {}, el("tr", {}, columns.map((c) => el("th", { text: c })))),
    rows instanceof HTMLElement ? rows : el("tbody", {}, rows)));
}

export function langSwitch() {
  const other = lang() === "en" ? "zh" : "en";
  return el("button", { type: "button", class: "lang", text: other === "en" ? "EN" : "中文", title: t("common.language"),
    on: { click: () => setLang(other) } });
}

// The top bar: brand, the side's links, who is logged in, the language.
export function header(links, user, { onLogout, loginHref = "", home = "/" }) {
  const nav = el("nav", { class: "links" }, links.map(([href, key]) => el("a", { href, text: t(key),
    class: location.pathname === href ? "on" : "" })));
  const who = user
    ? el("span", { class: "who" }, el("span", { class: "name", text: user.nickname }),
      el("button", { type: "button", class: "link", text: t("nav.logout"), on: { click: onLogout } }))
    : loginHref && el("a", { class: "login-link", href: loginHref, text: t("nav.login") });
  clear($("#top"), el("a", { class: "brand", href: home, text: t("nav.brand") }), nav, el("div", { class: "side" }, who, langSwitch()));
}

export function connection(live, node) {
  live.on("state", (state) => {
    node.className = `conn ${state}`;
    node.textContent = t(`conn.${state}`);
  });
}
