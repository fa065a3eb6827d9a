// The audit log of one session, lot, order or deposit (?target=id), in order.
import { operatorApi as api } from "../client.js";
import { t } from "../i18n.js";
import { $, clear, el, param, showError, table } from "../ui.js";
import { AUDIT_COLUMNS, auditRow, operatorPage } from "./console.js";

await operatorPage();
const rows = el("tbody", { id: "audit" });
const target = el("input", { id: "target", required: true, value: param("target"), placeholder: t("console.target_hint") });

async function load() {
  clear(rows);
  if (!target.value.trim()) return;
  history.replaceState(null, "", `?target=${encodeURIComponent(target.value.trim())}`);
  try {
    const { items } = await api.get(`/api/admin/audit?target=${encodeURIComponent(target.value.trim())}`);
    rows.append(...(items.length ? items.map(auditRow) : [el("tr", {}, el("td", { colspan: 4, class: "empty-note", text: t("console.no_audit") }))]));
  } catch (error) {
    showError(error);
  }
}

clear($("#app"), el("h1", { text: t("console.audit") }),
  el("form", { class: "row", on: { submit: (e) => { e.preventDefault(); load(); } } }, target,
    el("button", { type: "submit", class: "primary", text: t("console.show") })),
  table(AUDIT_COLUMNS.map((key) => t(key)), rows));
await load();
