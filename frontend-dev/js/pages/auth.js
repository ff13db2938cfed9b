// Sign in and register. The forms are built fresh each time, so nothing typed by one
// person is left for the next.

import { h } from "../dom.js";
import { signIn, register } from "../session.js";

function form(title, inputs, submitLabel, action, footer) {
  const message = h("p", { class: "message", role: "alert" });
  const button = h("button", { type: "submit" }, submitLabel);
  const element = h("form", { class: "auth-form", autocomplete: "on" }, ...inputs, button, message);
  element.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    message.textContent = "";
    try {
      await action(new FormData(element));
    } catch (error) {
      message.textContent = error.message;
      button.disabled = false;
    }
  });
  return h("section", { class: "card narrow" }, h("h1", {}, title), element, footer);
}

export function renderSignIn(root, { session, navigate }) {
  if (session.me) { navigate("/"); return; }
  root.append(form("Sign in", [
    h("label", {}, "Email", h("input", { name: "email", type: "email", autocomplete: "username", required: true })),
    h("label", {}, "Password", h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
  ], "Sign in", (data) => signIn(data.get("email"), data.get("password")),
  h("p", { class: "sub" }, "No account yet? ", h("a", { href: "#/register" }, "Register"))));
  root.querySelector("input").focus();
}

export function renderRegister(root, { session, navigate }) {
  if (session.me) { navigate("/"); return; }
  root.append(form("Create an account", [
    h("label", {}, "Display name", h("input", { name: "display_name", required: true, maxlength: 100, autocomplete: "nickname" })),
    h("label", {}, "Email", h("input", { name: "email", type: "email", autocomplete: "username", required: true })),
    h("label", {}, "Password (at least 10 characters)", h("input", { name: "password", type: "password", autocomplete: "new-password", minlength: 10, required: true })),
  ], "Register", (data) => register(data.get("display_name"), data.get("email"), data.get("password")),
  h("p", { class: "sub" }, "Have an account? ", h("a", { href: "#/signin" }, "Sign in"))));
  root.querySelector("input").focus();
}
