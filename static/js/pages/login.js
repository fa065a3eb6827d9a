// Log in by phone and code. In the SMS sandbox the server returns the code
// (dev_code): it is shown and filled in.
import { api } from "../client.js";
import { bidderPage } from "../bidder.js";
import { t } from "../i18n.js";
import { $, action, clear, el, param, toast } from "../ui.js";

await bidderPage();
const phone = el("input", { id: "phone", type: "tel", inputmode: "tel", autocomplete: "tel", required: true,
  pattern: "\\+?[0-9]{5,15}", placeholder: t("login.phone") });
const code = el("input", { id: "code", inputmode: "numeric", autocomplete: "one-time-code", required: true,
  pattern: "[0-9]{4,8}", placeholder: t("login.code") });
const devCode = el("p", { class: "dev-code", hidden: true });
const send = el("button", { type: "button", id: "send-code", class: "ghost", text: t("login.send") });
const submit = el("button", { type: "submit", id: "login", class: "primary wide", text: t("login.submit") });

send.addEventListener("click", () => action(send, async () => {
  if (!phone.reportValidity()) return;
  const sent = await api.post("/api/auth/code", { phone: phone.value.trim() });
  if (sent.dev_code) {
    devCode.hidden = false;
    devCode.textContent = t("login.dev_code", { code: sent.dev_code });
    code.value = sent.dev_code;
  } else {
    toast(t("login.sent"));
  }
}));

const form = el("form", { class: "card narrow", on: { submit: (event) => {
  event.preventDefault();
  action(submit, async () => {
    const body = await api.post("/api/auth/login", { phone: phone.value.trim(), code: code.value.trim() });
    api.token = body.token;
    const next = param("next");
    location.href = /^\/(?![/\\])/.test(next) ? next : "/";  // only a path of this site
  });
} } },
el("h1", { text: t("login.title") }),
el("label", { text: t("login.phone") }, phone),
el("label", { text: t("login.code") }, el("div", { class: "row" }, code, send)),
devCode, submit);

clear($("#app"), form);
