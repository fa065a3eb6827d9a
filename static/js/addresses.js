// The delivery address of a payment: the buyer's addresses to choose from
// (the default first, chosen at the start) and a form to add one.
import { api } from "./client.js";
import { t } from "./i18n.js";
import { action, clear, el, toast } from "./ui.js";

const FIELDS = [["name", 32, "text"], ["phone", 16, "tel"], ["province", 32, "text"], ["city", 32, "text"],
  ["county", 32, "text"], ["detail", 128, "text"]];

export function addressLine(a) {
  return `${a.province} ${a.city} ${a.county} ${a.detail}`;
}

export function addressPicker(addresses, onChange = () => {}) {
  let chosen = (addresses.find((a) => a.is_default) || addresses[0] || { id: "" }).id;
  const list = el("div", { class: "options", id: "addresses", role: "radiogroup" });
  const inputs = Object.fromEntries(FIELDS.map(([name, max, type]) => [name, el("input", { id: `addr-${name}`, name,
    type, maxlength: max, required: true, placeholder: t(`address.${name}`),
    pattern: name === "phone" ? "\\+?[0-9]{5,15}" : null, "aria-label": t(`address.${name}`) })]));
  const isDefault = el("input", { type: "checkbox", id: "addr-default" });
  const save = el("button", { type: "submit", id: "save-address", class: "primary", text: t("address.save") });
  const form = el("form", { class: "address-form", id: "address-form", on: { submit: (event) => {
    event.preventDefault();
    action(save, async () => {
      const body = Object.fromEntries(Object.entries(inputs).map(([name, input]) => [name, input.value.trim()]));
      const saved = await api.post("/api/addresses", { ...body, is_default: isDefault.checked });
      if (saved.is_default) addresses.forEach((a) => { a.is_default = false; });
      addresses.push(saved);
      chosen = saved.id;
      form.reset();
      form.hidden = true;
      toast(t("address.saved"), "ok");
      render();
      onChange(chosen);
    });
  } } },
  el("div", { class: "cols" }, FIELDS.slice(0, 2).map(([name]) => inputs[name])),
  el("div", { class: "cols three" }, FIELDS.slice(2, 5).map(([name]) => inputs[name])),
  inputs.detail,
  el("div", { class: "row between" }, el("label", { class: "inline" }, isDefault, t("address.make_default")), save));
  const add = el("button", { type: "button", class: "link", id: "add-address", text: t("address.add"),
    on: { click: () => { form.hidden = !form.hidden; if (!form.hidden) inputs.name.focus(); } } });

  function render() {
    form.hidden = addresses.length > 0 && form.hidden;
    clear(list, addresses.map((a) => el("label", { class: `option${a.id === chosen ? " on" : ""}`, dataset: { id: a.id } },
      el("input", { type: "radio", name: "address", value: a.id, checked: a.id === chosen,
        on: { change: () => { chosen = a.id; render(); onChange(chosen); } } }),
      el("span", { class: "body" },
        el("strong", { text: `${a.name} ${a.phone}` }), a.is_default ? el("span", { class: "tag", text: t("address.default") }) : null,
        el("span", { class: "muted block", text: addressLine(a) })))));
  }
  form.hidden = addresses.length > 0;
  render();
  return { node: el("div", {}, list, add, form), get id() { return chosen; } };
}
