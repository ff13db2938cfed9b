// The StreamBox web app: plain ES modules, no build step. A hash router picks the page;
// each page builds its view from the API and returns a cleanup run when the page is left.

import { h, $, toast } from "./js/dom.js";
import { session, loadMe, signOut, onSessionChange, onLive, live } from "./js/session.js";
import * as home from "./js/pages/home.js";
import * as watch from "./js/pages/watch.js";
import * as studio from "./js/pages/studio.js";
import * as analytics from "./js/pages/analytics.js";
import * as creator from "./js/pages/creator.js";
import * as history from "./js/pages/history.js";
import * as admin from "./js/pages/admin.js";
import * as auth from "./js/pages/auth.js";

const routes = [
  [/^\/?$/, home.render],
  [/^\/search$/, home.renderSearch],
  [/^\/watch\/([0-9a-f-]{36})$/, watch.render],
  [/^\/studio$/, studio.render],
  [/^\/studio\/analytics(?:\/([0-9a-f-]{36}))?$/, analytics.render],
  [/^\/creator\/([0-9a-f-]{36})$/, creator.render],
  [/^\/history$/, history.render],
  [/^\/admin$/, admin.render],
  [/^\/signin$/, auth.renderSignIn],
  [/^\/register$/, auth.renderRegister],
  [/^\/verify$/, auth.renderVerify],
  [/^\/forgot$/, auth.renderForgot],
  [/^\/reset$/, auth.renderReset],
];

let cleanup = null;
let rendering = 0;

export function navigate(path) {
  if (location.hash === `#${path}`) route();
  else location.hash = path;
}

function current() {
  const raw = location.hash.startsWith("#/") ? location.hash.slice(1) : "/";
  const [path, search = ""] = raw.split("?");
  return { path, params: new URLSearchParams(search) };
}

// Runs the page's cleanup (a player saves its position and sends its last heartbeat);
// settles when the page's last requests are answered.
function leavePage() {
  let last;
  if (cleanup) { try { last = cleanup(); } catch { /* the page is gone anyway */ } }
  cleanup = null;
  return Promise.resolve(last);
}

async function route() {
  const { path, params } = current();
  const turn = ++rendering;
  leavePage();
  const view = $("#view");
  view.replaceChildren(h("p", { class: "loading" }, "Loading…"));
  const match = routes.find(([pattern]) => pattern.test(path));
  const ctx = { navigate, params, session };
  const page = match ? match[1] : notFound;
  const args = match ? path.match(match[0]).slice(1) : [];
  const root = h("div", { class: "page" });
  try {
    const done = await page(root, ctx, ...args);
    if (turn !== rendering) { if (typeof done === "function") done(); return; }
    cleanup = typeof done === "function" ? done : null;
    view.replaceChildren(root);
  } catch (error) {
    if (turn !== rendering) return;
    view.replaceChildren(h("div", { class: "page" }, h("div", { class: "error-state", role: "alert" },
      h("h1", {}, error.status === 404 ? "Not found" : "Something went wrong"),
      h("p", {}, error.status === 404 ? "This page or video does not exist, or is not shared with you." : error.message),
      h("a", { href: "#/" }, "Back to the home page"))));
  }
  markNav(path);
  view.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

function notFound(root) {
  root.append(h("div", { class: "error-state" }, h("h1", {}, "Not found"), h("a", { href: "#/" }, "Back to the home page")));
}

function markNav(path) {
  for (const link of document.querySelectorAll("#nav a")) {
    const target = link.getAttribute("href").slice(1);
    link.toggleAttribute("aria-current", target === "/" ? path === "/" : path.startsWith(target));
  }
}

function renderHeader() {
  const me = session.me;
  const nav = $("#nav");
  const links = [h("a", { href: "#/" }, "Home")];
  if (me) links.push(h("a", { href: "#/history" }, "History"));
  if (me && me.role !== "viewer") links.push(h("a", { href: "#/studio" }, "Studio"));
  if (me?.role === "admin") links.push(h("a", { href: "#/admin" }, "Operator"));
  nav.replaceChildren(...links);
  const account = $("#account");
  if (me) {
    account.replaceChildren(
      h("span", { class: "whoami", title: me.email }, me.display_name, h("small", {}, ` ${me.role}`)),
      h("span", { class: "live-mode", title: "How this page hears of changes", dataset: { mode: live.mode } }),
      h("button", { type: "button", class: "ghost", id: "sign-out", onclick: doSignOut }, "Sign out"));
  } else {
    account.replaceChildren(h("a", { href: "#/signin", class: "button ghost" }, "Sign in"), h("a", { href: "#/register", class: "button" }, "Register"));
  }
  markNav(current().path);
}

async function doSignOut() {
  // The page's last requests (a player's position and heartbeat) are answered while the
  // session they belong to still works, not refused after it is revoked; a server that
  // does not answer holds signing out up for a few seconds at most.
  await Promise.race([leavePage(), new Promise((done) => setTimeout(done, 3000))]);
  try {
    await signOut();
  } catch (error) {
    toast(`You may still be signed in: ${error.message}`, "error");
    route();
  }
}

onSessionChange(() => {
  renderHeader();
  // Nothing of the previous user stays on the page: every view is rebuilt.
  $("#search-form").reset();
  if (!session.me) toast("You are signed out.");
  navigate(session.me ? current().path.replace(/^\/(signin|register)$/, "/") : "/");
});

onLive(({ type, data }) => {
  if (type === "mode") { const badge = $(".live-mode"); if (badge) badge.dataset.mode = data; }
});

$("#search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const q = new FormData(event.target).get("q").trim();
  if (q) navigate(`/search?q=${encodeURIComponent(q)}`);
});

// Hashes that are not app paths (the skip link's #view) are in-page anchors.
window.addEventListener("hashchange", () => {
  if (location.hash === "" || location.hash.startsWith("#/")) route();
});
window.addEventListener("unhandledrejection", (event) => {
  toast(event.reason?.message || "Something went wrong.", "error");
});

try {
  await loadMe();
} catch (error) {
  toast(`Could not load your account: ${error.message}`, "error");
}
renderHeader();
route();
