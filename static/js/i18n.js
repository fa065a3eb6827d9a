// Labels in Chinese by default, English on request; the choice is kept.
import { MESSAGES } from "./messages.js";

const LANG_KEY = "gavel.lang";

export function lang() {
  const chosen = localStorage.getItem(LANG_KEY);
  return chosen === "en" ? "en" : "zh";
}

export function setLang(value) {
  localStorage.setItem(LANG_KEY, value);
  location.reload();
}

// t("bid.at", {price: "¥100"}): the label, with {name} filled in.
export function t(key, vars = {}) {
  const text = MESSAGES[lang()][key] ?? MESSAGES.zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

export function has(key) {
  return key in MESSAGES[lang()];
}

// A status word of the API (lot, auction, order, deposit…), in the chosen language.
export function statusText(kind, status, fallback = "") {
  const key = `st.${kind}.${status}`;
  return has(key) ? t(key) : fallback || status;
}

// The message for an error code of spec/ws.md (or the client's own:
// network, offline, timeout), else the server's own words.
export function errorText(error) {
  const key = `err.${error.code}`;
  return has(key) ? t(key) : error.message || t("err.internal");
}

// Elements marked data-i18n="key" (text) or data-i18n-placeholder="key".
export function translate(root = document) {
  document.documentElement.lang = lang() === "en" ? "en" : "zh-CN";
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-placeholder]")) node.placeholder = t(node.dataset.i18nPlaceholder);
  const title = document.querySelector("title[data-i18n]");
  if (title) document.title = t(title.dataset.i18n);
}
