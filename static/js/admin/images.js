// Image fields of the console forms: upload (POST /api/admin/uploads), a
// preview, and for detail images the carousel flag and order of each.
import { t } from "../i18n.js";
import { action, clear, el } from "../ui.js";

export function imagePicker(api, name, images, { single = false } = {}) {
  let items = images.map((img, i) => (typeof img === "string" ? { url: img, carousel: true, order: i } : { ...img }));
  const list = el("div", { class: "images" });
  const file = el("input", { type: "file", id: `f-${name}`, accept: "image/png,image/jpeg,image/gif,image/webp", multiple: !single });
  const status = el("span", { class: "muted" });

  function render() {
    clear(list, items.map((item, i) => el("figure", { class: "image-item" },
      el("img", { src: item.url, alt: "", class: "thumb" }),
      single ? null : el("label", { class: "inline" },
        el("input", { type: "checkbox", checked: item.carousel, on: { change: (e) => { item.carousel = e.target.checked; } } }),
        t("console.carousel")),
      single ? null : el("input", { type: "number", class: "order", min: 0, max: 10000, value: String(item.order),
        "aria-label": t("console.order"), on: { change: (e) => { item.order = Number(e.target.value || 0); } } }),
      el("button", { type: "button", class: "link danger", text: t("console.remove"),
        on: { click: () => { items.splice(i, 1); render(); } } }))));
  }

  file.addEventListener("change", () => action(file, async () => {
    const chosen = [...file.files];
    for (const [k, f] of chosen.entries()) {
      status.textContent = t("console.uploading", { n: k + 1, total: chosen.length });
      const { url } = await api.upload(f);
      const item = { url, carousel: true, order: items.length };
      items = single ? [item] : [...items, item];
      render();
    }
    status.textContent = "";
    file.value = "";
  }));

  render();
  return {
    node: el("div", { class: "picker", dataset: { picker: name } }, list, el("div", { class: "row" }, file, status)),
    urls: () => items.map((item) => item.url),
    images: () => items.map(({ url, carousel, order }) => ({ url, carousel, order })),
  };
}
