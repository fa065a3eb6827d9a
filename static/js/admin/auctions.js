// 拍卖专场列表: 封面 / 专场 / 预展时间 / 拍卖时间 / 状态 / 编辑 删除.
import { operatorApi as api } from "../client.js";
import { statusText, t } from "../i18n.js";
import { $, action, badge, clear, confirmBox, dateTime, el, image, showError, table, toast } from "../ui.js";
import { operatorPage } from "./console.js";

await operatorPage();
const app = $("#app");
const EDITABLE = ["scheduled", "preview"];

function row(session) {
  const remove = el("button", { type: "button", class: "link danger", text: t("console.delete"),
    disabled: !EDITABLE.includes(session.status) });
  remove.addEventListener("click", () => action(remove, async () => {
    if (!(await confirmBox(t("console.confirm_delete", { title: session.title })))) return;
    await api.del(`/api/admin/auctions/${session.id}`);
    toast(t("console.deleted"), "ok");
    await load();
  }));
  return el("tr", { dataset: { id: session.id } },
    el("td", {}, image(session.cover, "", "thumb")),
    el("td", {}, el("a", { href: `/admin/auction.html?id=${session.id}`, class: "title", text: session.title })),
    el("td", { text: `${dateTime(session.preview_start)} – ${dateTime(session.preview_end)}` }),
    el("td", { text: `${dateTime(session.auction_start)} – ${dateTime(session.auction_end)}` }),
    el("td", {}, badge(statusText("auction", session.status, session.status_text), session.status)),
    el("td", { class: "actions" },
      el("a", { href: `/admin/auction.html?id=${session.id}`, text: EDITABLE.includes(session.status) ? t("console.edit") : t("console.view") }),
      remove));
}

async function load() {
  let items = [];
  try {
    items = (await api.get("/api/admin/auctions")).items;
  } catch (error) {
    showError(error);
  }
  clear(app,
    el("div", { class: "row between" }, el("h1", { text: t("console.sessions_title") }),
      el("a", { href: "/admin/auction.html", class: "button primary", id: "new-session", text: t("console.new_session") })),
    table([t("console.cover"), t("console.session"), t("console.preview_time"), t("console.auction_time"),
      t("console.status"), t("console.actions")], items.map(row)));
}

await load();
