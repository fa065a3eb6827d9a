// The lot's images (the cover, then the carousel ones by order, else all
// detail images); arrows, dots and a swipe on touch screens. The caller
// shows no carousel for a lot without any image.
import { t } from "./i18n.js";
import { el } from "./ui.js";

export function carousel(lot) {
  const chosen = lot.images.filter((i) => i.carousel);
  const urls = (chosen.length ? chosen : lot.images).map((i) => i.url);
  if (lot.cover && !urls.includes(lot.cover)) urls.unshift(lot.cover);
  const slides = urls.map((url, i) => el("img", { src: url, alt: `${lot.title} ${i + 1}`, class: "slide", hidden: i > 0 }));
  const dots = urls.map((_, i) => el("button", { type: "button", class: "dot", "aria-label": String(i + 1), on: { click: () => show(i) } }));
  let at = 0;
  function show(i) {
    at = (i + urls.length) % urls.length;
    slides.forEach((s, k) => { s.hidden = k !== at; });
    dots.forEach((d, k) => d.classList.toggle("on", k === at));
  }
  const box = el("div", { class: "carousel" }, slides);
  if (urls.length > 1) {
    box.append(
      el("button", { type: "button", class: "arrow prev", "aria-label": t("lot.prev_image"), text: "‹", on: { click: () => show(at - 1) } }),
      el("button", { type: "button", class: "arrow next", "aria-label": t("lot.next_image"), text: "›", on: { click: () => show(at + 1) } }),
      el("div", { class: "dots" }, dots));
    let startX = null;
    box.addEventListener("touchstart", (e) => { startX = e.touches[0].clientX; }, { passive: true });
    box.addEventListener("touchend", (e) => {
      const dx = e.changedTouches[0].clientX - (startX ?? e.changedTouches[0].clientX);
      if (Math.abs(dx) > 40) show(at + (dx < 0 ? 1 : -1));
      startX = null;
    });
  }
  show(0);
  return box;
}
