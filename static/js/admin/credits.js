// Users' credits (积分): grant some to a user, or take some, with a reason
// (audited). A user's id comes from the orders or deposits pages (?user=).
// The lines made here are listed with the user's credits after each.
import { operatorApi as api } from "../client.js";
import { statusText, t } from "../i18n.js";
import { $, action, clear, dateTime, el, param, table, toast } from "../ui.js";
import { field, operatorPage } from "./console.js";

await operatorPage();
const user = el("input", { id: "f-user", required: true, pattern: "[0-9a-z]{1,64}", value: param("user"),
  placeholder: t("console.user_hint") });
const direction = el("select", { id: "f-direction" },
  el("option", { value: "1", text: t("console.grant") }), el("option", { value: "-1", text: t("console.take") }));
const amount = el("input", { id: "f-amount", type: "number", min: 1, max: 1000000000, step: 1, required: true });
const reason = el("input", { id: "f-reason", required: true, maxlength: 128, placeholder: t("console.reason_hint") });
const save = el("button", { type: "submit", id: "save-credits", class: "primary", text: t("console.apply") });
const rows = el("tbody", { id: "credit-lines" });

const form = el("form", { class: "card form", id: "credits-form", on: { submit: (event) => {
  event.preventDefault();
  action(save, async () => {
    const who = user.value.trim();
    const body = { amount: Number(direction.value) * Number(amount.value), reason: reason.value.trim() };
    const answer = await api.post(`/api/admin/users/${encodeURIComponent(who)}/credits`, body);
    toast(t("console.credits_now", { user: who, credits: answer.credits }), "ok");
    rows.prepend(el("tr", {},
      el("td", { text: dateTime(answer.line.created_at, true) }), el("td", { class: "mono", text: who }),
      el("td", { text: statusText("credit", answer.line.kind, answer.line.kind_text) }),
      el("td", { class: "num", text: (answer.line.amount > 0 ? "+" : "") + answer.line.amount }),
      el("td", { class: "num", text: String(answer.credits) }), el("td", { text: body.reason })));
    amount.value = "";
    reason.value = "";
  });
} } },
field(t("console.user"), user),
el("div", { class: "cols" }, field(t("console.credit_direction"), direction), field(t("console.credit_amount"), amount)),
field(t("console.reason"), reason), save);

clear($("#app"), el("h1", { text: t("console.credits_title") }), el("p", { class: "muted", text: t("console.credits_intro") }), form,
  el("section", { class: "card" }, el("h2", { text: t("console.credits_done") }),
    table([t("console.time"), t("console.user"), t("console.kind"), t("console.credit_amount"), t("console.credits_after"),
      t("console.reason")], rows)));
