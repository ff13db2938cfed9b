// Sign in (with a password, or through the configured OpenID provider), register, and
// the pages of mailed links: verify an address, ask for a password reset, choose a new
// password. The forms are built fresh each time, so nothing typed by one person is left
// for the next.

import { h } from "../dom.js";
import { api, post } from "../api.js";
import { signIn, register, loadMe, session } from "../session.js";

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

// What a failed single sign-on (the server sends the browser to #/signin?error=CODE) means.
const SSO_ERRORS = {
  invalid_oidc_state: "That sign-in expired or was started in another browser. Please try again.",
  invalid_oidc_nonce: "The provider's answer was not for this sign-in. Please try again.",
  invalid_oidc_token: "The provider's answer could not be verified. Please try again.",
  oidc_denied: "The sign-in was cancelled or refused at the provider.",
  oidc_email_unverified: "Your provider has not verified your email address, so it cannot sign you in here. Verify it there, or sign in with your password.",
  unavailable: "The sign-in provider cannot be reached right now. Try again in a moment.",
};

// The "Sign in with …" button when single sign-on is configured; nothing when it is
// off or the server cannot say.
async function singleSignOn() {
  const sso = await api("/api/v1/auth/oidc").catch(() => null);
  if (!sso?.enabled) return null;
  return h("p", { class: "sso" }, h("a", { href: "/api/v1/auth/oidc/start?return_to=%2F%23%2F", class: "button ghost" }, `Sign in with ${sso.name}`));
}

export async function renderSignIn(root, { session, navigate, params }) {
  if (session.me) { navigate("/"); return; }
  const failed = params.get("error");
  root.append(form("Sign in", [
    ...(failed ? [h("p", { class: "message", role: "alert" }, SSO_ERRORS[failed] || "Single sign-on failed. Please try again.")] : []),
    h("label", {}, "Email", h("input", { name: "email", type: "email", autocomplete: "username", required: true })),
    h("label", {}, "Password", h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
  ], "Sign in", (data) => signIn(data.get("email"), data.get("password")),
  h("p", { class: "sub" }, "No account yet? ", h("a", { href: "#/register" }, "Register"),
    " · ", h("a", { href: "#/forgot" }, "Forgot your password?"))));
  const sso = await singleSignOn();
  if (sso) root.querySelector(".auth-form").after(sso);
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

// The link mailed at registration: #/verify?token=… — the token goes to the API once.
export async function renderVerify(root, { params }) {
  const card = h("section", { class: "card narrow" }, h("h1", {}, "Verify your email address"));
  root.append(card);
  if (!params.get("token")) {
    card.append(h("p", {}, "Open the link we mailed you, or ask for a new one."), resendForm());
    return;
  }
  try {
    await post("/api/v1/auth/verify-email", { token: params.get("token") || "" });
    if (session.me) await loadMe();
    card.append(h("p", { role: "status" }, "Your email address is verified. You can upload videos now."),
      h("a", { href: session.me ? "#/studio" : "#/signin", class: "button" }, session.me ? "Go to the Studio" : "Sign in"));
  } catch (error) {
    card.append(h("p", { class: "message", role: "alert" }, error.message), resendForm());
  }
}

// Asks for the verification link again; the answer is the same for any address.
function resendForm() {
  const sent = h("p", { role: "status" });
  const element = form("Send a new link", [
    h("label", {}, "Email", h("input", { name: "email", type: "email", autocomplete: "username", required: true, value: session.me?.email || "" })),
  ], "Send", async (data) => {
    await post("/api/v1/auth/verify-email/resend", { email: data.get("email") });
    sent.textContent = "If that address has an account still to verify, a new link is on its way.";
  }, sent);
  return element;
}

export function renderForgot(root) {
  const sent = h("p", { role: "status" });
  root.append(form("Reset your password", [
    h("p", { class: "sub" }, "We mail you a link to choose a new password."),
    h("label", {}, "Email", h("input", { name: "email", type: "email", autocomplete: "username", required: true })),
  ], "Send the link", async (data) => {
    await post("/api/v1/auth/password-reset", { email: data.get("email") });
    sent.textContent = "If that address has an account, a link is on its way. It works once, for an hour.";
  }, sent));
  root.querySelector("input").focus();
}

// The link mailed for a reset: #/reset?token=… — a new password signs out every device.
export function renderReset(root, { params, navigate }) {
  root.append(form("Choose a new password", [
    h("label", {}, "New password (at least 10 characters)", h("input", { name: "password", type: "password", autocomplete: "new-password", minlength: 10, required: true })),
  ], "Set the password", async (data) => {
    await post("/api/v1/auth/password-reset/complete", { token: params.get("token") || "", password: data.get("password") });
    navigate("/signin");
  }, h("p", { class: "sub" }, "Setting a new password signs you out everywhere. ", h("a", { href: "#/forgot" }, "Ask for a new link"))));
  root.querySelector("input").focus();
}
