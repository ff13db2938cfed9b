// The web app's pages for mailed links, in headless Chromium (Debian's): following the
// verification link, asking for a password reset, and choosing a new password from the
// reset link. Reports as one JSON line what it saw; page errors are recorded. Run by
// tests/suite/email.rs, which reads the links from the mail and checks the report.
//
// usage: node mailed_links.mjs verify BASE_URL EMAIL PASSWORD VERIFY_LINK
//        node mailed_links.mjs reset BASE_URL EMAIL NEW_PASSWORD RESET_LINK
import { chromium } from "playwright-core";

const [mode, base, email, password, link] = process.argv.slice(2);
const STEP_MS = 30_000;
const report = { errors: [] };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
page.on("pageerror", (error) => report.errors.push(`page error: ${error.message}`));
page.on("console", (message) => {
  // A refused link is an answer the page shows, not an error of the page.
  if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
    report.errors.push(`console error: ${message.text()}`);
  }
});

async function text(selector) {
  const element = page.locator(selector).filter({ hasText: /\S/ }).first();
  try {
    await element.waitFor({ timeout: STEP_MS });
  } catch (error) {
    throw new Error(`waiting for ${selector} on ${page.url()}: ${error.message.split("\n")[0]}`);
  }
  return element.textContent();
}

async function signIn(withPassword) {
  await page.goto(`${base}/#/signin`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(withPassword);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#sign-out").waitFor({ timeout: STEP_MS });
}

try {
  if (mode === "verify") {
    await signIn(password);
    await page.goto(`${base}/#/studio`);
    report.noticeBefore = await text(".notice");
    await page.goto(link);
    report.verified = await text("section [role=status]");
    await page.goto(`${base}/#/studio`);
    await page.getByRole("heading", { name: "Studio" }).waitFor({ timeout: STEP_MS });
    report.noticesAfter = await page.locator(".notice").count();
    await page.goto(`${base}/#/`);
    await page.goto(link);
    report.secondUse = await text("section .message");
    await page.goto(`${base}/#/forgot`);
    await page.getByLabel("Email").fill(email);
    await page.getByRole("button", { name: "Send the link" }).click();
    report.resetAsked = await text("section [role=status]");
  } else {
    await page.goto(link);
    await page.getByLabel(/^New password/).fill(password);
    await page.getByRole("button", { name: "Set the password" }).click();
    await page.waitForFunction(() => location.hash === "#/signin", null, { timeout: STEP_MS });
    await signIn(password);
    report.signedIn = true;
  }
} catch (error) {
  report.fatal = error.message.split("\n")[0];
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
